//! What the sign-in gate puts into every request: who is signed in, and who
//! sent it, as the audit trail and the throttles see them.

use super::CurrentUser;
use crate::audit::Actor;

/// The signed-in user of this request, put into the request by the auth middleware.
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    pub user: Option<CurrentUser>,
}

/// The client's address and user agent, put into the request by the auth middleware.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientMeta {
    /// The key the client's address is throttled under (IPv6 by its /64).
    pub fn throttle_group(&self) -> Option<String> {
        let ip = self.ip.as_deref()?.parse().ok()?;
        Some(crate::server::client_address::throttle_group(ip))
    }

    /// The audit actor for this client, signed in as `user` (if anyone).
    pub fn actor(&self, user: Option<&CurrentUser>) -> Actor {
        Actor {
            user_id: user.map(|u| u.id),
            email: user.map(|u| u.email.clone()),
            role: user.map(|u| u.role.as_str().to_string()),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}
