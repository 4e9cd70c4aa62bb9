//! The platform's fixed catalogue, shared by config validation and the local store: regions,
//! page permissions, PAI roles, the system policies msctl knows. Sources: domain.md, the API
//! contract.

/// Model Studio regions (console regions first, then those the API docs mention).
pub const REGIONS: &[&str] = &[
    "cn-beijing",
    "ap-southeast-1",
    "us-east-1",
    "eu-central-1",
    "ap-northeast-1",
    "cn-hongkong",
];

/// The only region whose API keys accept IP allow-lists.
pub const IP_ALLOW_REGION: &str = "cn-beijing";

/// Page permissions of a workspace member (the Administrator page is the `administrator` flag).
pub const PAGES: &[&str] = &[
    "ModelExperience-FullAccess",
    "BatchInference-FullAccess",
    "ModelObservation-FullAccess",
    "Playground-FullAccess",
    "ModelFine-tuning-FullAccess",
    "MyModels-FullAccess",
    "ModelDeployment-FullAccess",
    "ModelEvaluation-FullAccess",
    "DataManagement-FullAccess",
    "PermissionManagement-FullAccess",
    "KeyManagement-FullAccess",
];

/// Built-in PAI workspace member roles.
pub const PAI_ROLES: &[&str] = &[
    "PAI.WorkspaceOwner",
    "PAI.WorkspaceAdmin",
    "PAI.AlgoDeveloper",
    "PAI.AlgoOperator",
    "PAI.LabelManager",
    "PAI.MaxComputeDeveloper",
    "PAI.WorkspaceGuest",
];

/// System policies msctl knows by name (attaching others needs `type = "System"`).
pub const SYSTEM_POLICIES: &[&str] = &[
    "AliyunBailianFullAccess",
    "AliyunBailianReadOnlyAccess",
    "AliyunBailianControlFullAccess",
    "AliyunBailianControlReadOnlyAccess",
    "AliyunBailianDataFullAccess",
    "AliyunBailianDataReadOnlyAccess",
    "AliyunModelStudioFullAccess",
    "AliyunModelStudioReadOnlyAccess",
    "AliyunRAMFullAccess",
    "AliyunRAMReadOnlyAccess",
    "AliyunBSSReadOnlyAccess",
    "AliyunBSSOrderAccess",
    "AliyunOSSFullAccess",
    "AliyunOSSReadOnlyAccess",
    "AliyunARMSFullAccess",
    "AliyunLogFullAccess",
    "AliyunVPCFullAccess",
    "AliyunPAIFullAccess",
    "AliyunDataWorksFullAccess",
    "AliyunPAILangStudioDefaultRolePolicy",
    "AdministratorAccess",
    "ReadOnlyAccess",
    "AliyunSTSAssumeRoleAccess",
];

/// The name msctl gives a region's default workspace.
pub fn default_workspace_name(region: &str) -> String {
    format!("default-{region}")
}

pub fn is_system_policy(name: &str) -> bool {
    SYSTEM_POLICIES.contains(&name)
}
