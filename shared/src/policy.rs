//! Who may do what: the object-level rules of the API, in one place, called by
//! REST, GraphQL and the worker alike.

use crate::domain::{Canceller, Role, UserId};

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

/// The parties of a booking: its guest and its property's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingParties {
    pub guest_id: UserId,
    pub host_id: UserId,
}

/// Anyone signed in books, except the property's own host. The role plays
/// no part: the booking is made without reading it.
pub fn may_book(guest: UserId, host_id: UserId) -> bool {
    guest != host_id
}

impl Actor {
    /// Hosts and admins list properties.
    pub fn may_create_property(&self) -> bool {
        matches!(self.role, Role::Host | Role::Admin)
    }

    /// The owning host or an admin changes or removes a listing.
    pub fn may_manage_property(&self, host_id: UserId) -> bool {
        self.user_id == host_id || self.is_admin()
    }

    /// A booking is visible to its guest, its property's host and admins;
    /// to anyone else it does not exist.
    pub fn may_see_booking(&self, parties: BookingParties) -> bool {
        self.user_id == parties.guest_id || self.user_id == parties.host_id || self.is_admin()
    }

    /// Only the guest changes the dates or guests of its booking.
    pub fn may_change_booking(&self, parties: BookingParties) -> bool {
        self.user_id == parties.guest_id
    }

    /// Who the caller cancels as, if it may cancel at all: its own stay as
    /// guest; a stay at its property, or any as admin, as host.
    pub fn cancels_as(&self, parties: BookingParties) -> Option<Canceller> {
        if self.user_id == parties.guest_id {
            Some(Canceller::Guest)
        } else if self.user_id == parties.host_id || self.is_admin() {
            Some(Canceller::HostOrAdmin)
        } else {
            None
        }
    }

    /// Only the guest of a booking reviews it.
    pub fn may_review(&self, parties: BookingParties) -> bool {
        self.user_id == parties.guest_id
    }

    /// The author or an admin changes or removes a review.
    pub fn may_manage_review(&self, author_id: UserId) -> bool {
        self.user_id == author_id || self.is_admin()
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

    #[test]
    fn booking_rules_follow_the_parties() {
        let guest = actor(Role::Guest);
        let host = actor(Role::Host);
        let stranger = actor(Role::Guest);
        let admin = actor(Role::Admin);
        let parties = BookingParties { guest_id: guest.user_id, host_id: host.user_id };
        for (who, sees) in [(guest, true), (host, true), (admin, true), (stranger, false)] {
            assert_eq!(who.may_see_booking(parties), sees);
        }
        assert!(guest.may_change_booking(parties));
        assert!(!host.may_change_booking(parties));
        assert!(!admin.may_change_booking(parties));
        assert_eq!(guest.cancels_as(parties), Some(Canceller::Guest));
        assert_eq!(host.cancels_as(parties), Some(Canceller::HostOrAdmin));
        assert_eq!(admin.cancels_as(parties), Some(Canceller::HostOrAdmin));
        assert_eq!(stranger.cancels_as(parties), None);
        assert!(!may_book(host.user_id, host.user_id));
        assert!(may_book(guest.user_id, host.user_id));
        assert!(guest.may_review(parties) && !host.may_review(parties) && !admin.may_review(parties));
    }

    #[test]
    fn listings_are_created_by_hosts_and_admins_and_managed_by_their_owner() {
        let host = actor(Role::Host);
        assert!(host.may_create_property() && actor(Role::Admin).may_create_property());
        assert!(!actor(Role::Guest).may_create_property());
        assert!(host.may_manage_property(host.user_id));
        assert!(!actor(Role::Host).may_manage_property(host.user_id));
        assert!(actor(Role::Admin).may_manage_property(host.user_id));
    }
}
