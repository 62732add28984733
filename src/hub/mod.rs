//! Microsoft's export stream (issue 31, in progress on branch `eventhubs`): what an Event Hubs
//! message of Entra's diagnostic settings holds ([`message`]: its records and which stream or
//! own dataset each category is) and how a partition is read ([`partition`]). Not wired to the
//! config or the poll loop yet.

pub mod message;
pub mod partition;
