//! Why one sample (or one CloudEvent) of a batch was refused.

/// A refused sample: its index in the batch, the field (or attribute) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}
