//! Microsoft's export stream (issue 31): Entra's diagnostic settings streamed to Event Hubs, read
//! over Event Hubs' Kafka endpoint. What a message holds ([`message`]: its records and which
//! stream or own dataset each category is), how a partition is read ([`partition`]), what the
//! config decides ([`settings`]) and the loop that reads a hub's partitions, normalizes each
//! record as its Graph stream would, dedups it against both paths, writes it and checkpoints
//! the offsets ([`reader`]).

mod batch;
pub mod message;
pub mod partition;
pub mod reader;
pub mod settings;

pub use settings::{ConnectionString, HubAuth, HubSettings};
