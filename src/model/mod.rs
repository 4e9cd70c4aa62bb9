//! The resource model shared by desired state, live state, plans and backends.

pub mod address;
pub mod platform;
pub mod resource;
pub mod state;
pub mod time;

pub use address::{Address, Principal};
pub use resource::{
    ApiKey, Attachment, Attribute, GroupMember, Member, ModelLimit, ModelPermission, PaiMember,
    PaiWorkspace, PolicyType, RamGroup, RamPolicy, RamRole, RamUser, Resource, Workspace,
};
pub use state::State;
