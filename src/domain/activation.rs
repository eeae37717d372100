//! The activation checklist's states and steps: which step may run in which
//! state, and where its outcome leads. Nothing else moves an activation.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a tenant's move to a dedicated instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum ActivationState {
    /// Level 3 was asked for: the instance's configuration is being set.
    Requested,
    /// The manifests were produced from the configuration.
    Rendered,
    /// The manifests keep their invariants and the domain answers with a valid certificate.
    Validated,
    /// The operator applied the manifests and the dedicated API's health URL answers.
    Applied,
    /// The isolation probes passed against the live parts.
    Verified,
    /// The tenant runs dedicated: the routing check sends its host to its own upstream.
    Active,
    /// A step failed; its reason is kept and the step can be tried again.
    Failed,
    /// The tenant left level 3: the routing went back to the shared pool; the history stays.
    RolledBack,
}

impl ActivationState {
    pub const ALL: [ActivationState; 8] = [
        Self::Requested,
        Self::Rendered,
        Self::Validated,
        Self::Applied,
        Self::Verified,
        Self::Active,
        Self::Failed,
        Self::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Rendered => "rendered",
            Self::Validated => "validated",
            Self::Applied => "applied",
            Self::Verified => "verified",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
        }
    }

    pub fn parse(input: &str) -> Option<ActivationState> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }

    /// Whether the configuration may still change (which starts the checklist over).
    pub fn configurable(self) -> bool {
        !matches!(self, Self::Active | Self::RolledBack)
    }

    pub fn tone(self) -> &'static str {
        match self {
            Self::Active => "success",
            Self::Failed => "danger",
            Self::RolledBack => "neutral",
            _ => "info",
        }
    }
}

impl fmt::Display for ActivationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of the checklist, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Render,
    Validate,
    Apply,
    Verify,
    Activate,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Render, Step::Validate, Step::Apply, Step::Verify, Step::Activate];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Render => "render",
            Step::Validate => "validate",
            Step::Apply => "apply",
            Step::Verify => "verify",
            Step::Activate => "activate",
        }
    }

    pub fn parse(input: &str) -> Option<Step> {
        Self::ALL.into_iter().find(|s| s.as_str() == input.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Step::Render => "Render the deployment",
            Step::Validate => "Validate the manifests, DNS and TLS",
            Step::Apply => "Apply, and check the dedicated API's health",
            Step::Verify => "Verify the isolation",
            Step::Activate => "Switch the routing to the dedicated instance",
        }
    }

    /// The state this step starts from.
    pub fn from(self) -> ActivationState {
        match self {
            Step::Render => ActivationState::Requested,
            Step::Validate => ActivationState::Rendered,
            Step::Apply => ActivationState::Validated,
            Step::Verify => ActivationState::Applied,
            Step::Activate => ActivationState::Verified,
        }
    }

    /// The state this step leads to when it passes.
    pub fn reaches(self) -> ActivationState {
        match self {
            Step::Render => ActivationState::Rendered,
            Step::Validate => ActivationState::Validated,
            Step::Apply => ActivationState::Applied,
            Step::Verify => ActivationState::Verified,
            Step::Activate => ActivationState::Active,
        }
    }

    /// The step that runs next from `state` (`failed_step` when it failed).
    pub fn next(state: ActivationState, failed_step: Option<Step>) -> Option<Step> {
        match state {
            ActivationState::Failed => failed_step,
            s => Self::ALL.into_iter().find(|step| step.from() == s),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where running `step` from `state` leads, given whether it passed; `Err`
/// when the step may not run now (out of order, or the checklist is over).
pub fn after(
    state: ActivationState,
    failed_step: Option<Step>,
    step: Step,
    passed: bool,
) -> Result<ActivationState, String> {
    if Step::next(state, failed_step) != Some(step) {
        return Err(match Step::next(state, failed_step) {
            Some(next) => format!("“{}” comes first.", next.label()),
            None => format!("The checklist is {}: no step runs now.", state.as_str().replace('_', " ")),
        });
    }
    Ok(if passed { step.reaches() } else { ActivationState::Failed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActivationState as S;

    #[test]
    fn the_steps_run_in_order_and_only_in_order() {
        let mut state = S::Requested;
        for step in Step::ALL {
            for other in Step::ALL.into_iter().filter(|o| *o != step) {
                assert!(after(state, None, other, true).is_err(), "{other} may not run in {state}");
            }
            state = after(state, None, step, true).unwrap();
        }
        assert_eq!(state, S::Active);
        assert!(Step::ALL.into_iter().all(|s| after(S::Active, None, s, true).is_err()), "nothing runs once active");
    }

    #[test]
    fn a_failed_step_is_tried_again_and_only_it() {
        assert_eq!(after(S::Applied, None, Step::Verify, false), Ok(S::Failed));
        assert!(after(S::Failed, Some(Step::Verify), Step::Activate, true).is_err(), "no skipping a failure");
        assert!(after(S::Failed, Some(Step::Verify), Step::Render, true).is_err());
        assert_eq!(after(S::Failed, Some(Step::Verify), Step::Verify, true), Ok(S::Verified));
        assert_eq!(after(S::Failed, Some(Step::Verify), Step::Verify, false), Ok(S::Failed));
    }

    #[test]
    fn a_rolled_back_checklist_runs_nothing() {
        assert!(Step::ALL.into_iter().all(|s| after(S::RolledBack, None, s, true).is_err()));
        assert!(!S::RolledBack.configurable() && !S::Active.configurable() && S::Failed.configurable());
    }

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
    }
}
