//! Reporters: consume run events and results only; they never touch the network.
//! One task (the console reporter) owns the terminal.

pub mod console;
pub mod json;
pub mod junit;
