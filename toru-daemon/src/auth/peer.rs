//! Authorisation on the local Unix socket by the peer's credentials (`SO_PEERCRED`), so that
//! `toructl` on the host needs no password: root, the daemon's own user, and members of the
//! `toru` group are let in; everyone else is refused.

use nix::unistd::{Gid, Group, Uid, User};

use super::Caller;

/// The group whose members may use the local socket.
pub const LOCAL_GROUP: &str = "toru";

/// The credentials of a Unix-socket peer, attached to each request from that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Effective uid of the connecting process.
    pub uid: u32,
    /// Effective gid of the connecting process.
    pub gid: u32,
}

/// Decides whether a local peer may use the API, and who it is.
pub fn authorize(peer: PeerCred) -> Result<Caller, String> {
    let user = User::from_uid(Uid::from_raw(peer.uid)).ok().flatten();
    let name = user
        .as_ref()
        .map_or_else(|| format!("uid:{}", peer.uid), |u| u.name.clone());
    let caller = Caller::Local {
        uid: peer.uid,
        name: name.clone(),
    };
    if peer.uid == 0 || peer.uid == Uid::effective().as_raw() {
        return Ok(caller);
    }
    let group = Group::from_name(LOCAL_GROUP).ok().flatten();
    let Some(group) = group else {
        return Err(format!(
            "{name} may not use the local socket: only root and members of group {LOCAL_GROUP} may"
        ));
    };
    let in_group = peer.gid == group.gid.as_raw()
        || user.is_some_and(|u| {
            let Ok(c_name) = std::ffi::CString::new(u.name.clone()) else {
                return false;
            };
            nix::unistd::getgrouplist(&c_name, Gid::from_raw(peer.gid))
                .is_ok_and(|groups| groups.contains(&group.gid))
        });
    if in_group {
        Ok(caller)
    } else {
        Err(format!(
            "{name} may not use the local socket: only root and members of group {LOCAL_GROUP} may"
        ))
    }
}
