//! `format = "azure_monitor"`: each event is the record as Entra's diagnostic settings export it
//! to Event Hubs or storage (the Azure Monitor resource-log schema): `time`, `resourceId`,
//! `operationName`, `operationVersion`, `category`, `tenantId`, then the members the category
//! carries (`resultType`, `resultSignature`, `resultDescription`, `durationMs`,
//! `callerIpAddress`, `correlationId`, `identity`), `Level`, `location`, and the record in
//! `properties`. A member the record has no value for is left out, as Microsoft's export leaves
//! it out (a successful sign-in has no `resultDescription`, a managed identity's no
//! `callerIpAddress`); which members each category carries is the stream's (`src/streams/`),
//! checked against Microsoft's own export in `tests/it/export_shape.rs`.

use crate::event::{write_str, NativeEvent};

/// Appends `e` as one export record (no newline).
pub fn write(e: &NativeEvent<'_>, out: &mut Vec<u8>) {
    // A record read from an Event Hub is already this line: Microsoft's own, verbatim.
    if let Some(export) = e.export {
        out.extend_from_slice(export.as_bytes());
        return;
    }
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(e.time.as_bytes());
    out.extend_from_slice(b"\",\"resourceId\":");
    write_str(out, e.ctx.resource_id());
    out.extend_from_slice(b",\"operationName\":");
    write_str(out, &e.operation_name);
    out.extend_from_slice(b",\"operationVersion\":\"1.0\",\"category\":\"");
    out.extend_from_slice(e.category.as_bytes());
    out.extend_from_slice(b"\",\"tenantId\":");
    write_str(out, &e.ctx.tenant_id);
    member(e, "resultType", out);
    if let Some(sig) = &e.result_signature {
        out.extend_from_slice(b",\"resultSignature\":");
        write_str(out, sig);
    }
    member(e, "resultDescription", out);
    out.extend_from_slice(b",\"durationMs\":");
    out.extend_from_slice(itoa::Buffer::new().format(e.duration_ms).as_bytes());
    member(e, "callerIpAddress", out);
    member(e, "correlationId", out);
    member(e, "identity", out);
    out.extend_from_slice(b",\"Level\":4");
    member(e, "location", out);
    out.extend_from_slice(b",\"properties\":");
    out.extend_from_slice(e.record.raw().as_bytes());
    out.push(b'}');
}

/// `,"key":value` when the stream set `key` to something neither null nor empty.
fn member(e: &NativeEvent<'_>, key: &'static str, out: &mut Vec<u8>) {
    if let Some(v) = e.envelope_field(key) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        v.write(out);
    }
}
