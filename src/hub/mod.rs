//! Microsoft's export stream (issue 31, in progress on branch `eventhubs`): what an Event Hubs
//! message of Entra's diagnostic settings holds. Nothing reads a hub yet: [`message`] parses a
//! message into its records and says which stream (or own dataset) each category is.

pub mod message;
