//! Who may do what: the object-level rules of the API, in one place, called by
//! REST, GraphQL and the worker alike.

use crate::domain::{Role, UserId};

/// The authenticated caller of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Only admins list every account.
    pub fn may_list_users(&self) -> bool {
        self.is_admin()
    }

    /// An account is visible to, and managed by, its owner and admins; to
    /// anyone else it does not exist (404, not 403, so ids are not probed).
    pub fn may_manage_user(&self, user: UserId) -> bool {
        self.user_id == user || self.is_admin()
    }

    /// Roles are granted by admins only: nobody sets or raises their own.
    pub fn may_set_role(&self, user: UserId, role: Role) -> bool {
        self.is_admin() && !(self.user_id == user && role != Role::Admin)
    }

    /// Changing one's own email or password needs the current password; an
    /// admin resetting someone else's does not.
    pub fn needs_current_password(&self, user: UserId) -> bool {
        self.user_id == user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor { user_id: UserId::new(), role }
    }

    #[test]
    fn users_manage_only_themselves_unless_admin() {
        let guest = actor(Role::Guest);
        let other = UserId::new();
        assert!(guest.may_manage_user(guest.user_id));
        assert!(!guest.may_manage_user(other));
        assert!(!guest.may_list_users());
        assert!(actor(Role::Admin).may_manage_user(other));
        assert!(actor(Role::Admin).may_list_users());
    }

    #[test]
    fn nobody_but_an_admin_changes_a_role_and_an_admin_cannot_demote_itself() {
        let guest = actor(Role::Guest);
        let host = actor(Role::Host);
        assert!(!guest.may_set_role(guest.user_id, Role::Admin));
        assert!(!guest.may_set_role(guest.user_id, Role::Host));
        assert!(!host.may_set_role(host.user_id, Role::Admin));
        let admin = actor(Role::Admin);
        assert!(admin.may_set_role(guest.user_id, Role::Host));
        assert!(admin.may_set_role(admin.user_id, Role::Admin));
        assert!(!admin.may_set_role(admin.user_id, Role::Guest));
    }
}
