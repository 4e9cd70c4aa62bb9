//! RAM's naming rules for users, groups, roles and policies, kept once for the config checks,
//! the platform store and the emulator.

/// What RAM accepts as the name of one kind of entity: 1 to `max` characters, each a letter, a
/// digit or one of `extra`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamName {
    /// The entity, as messages name it (`user`, `group`, `role`, `policy`).
    pub kind: &'static str,
    pub max: usize,
    /// Characters allowed besides ASCII letters and digits.
    pub extra: &'static str,
}

/// Why RAM refuses a name; the emulator answers each with its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamNameProblem {
    /// Empty, or longer than the rule's `max` characters.
    Length,
    /// A character other than a letter, a digit or the rule's `extra` ones.
    InvalidChars,
}

pub const RAM_USER_NAME: RamName = RamName {
    kind: "user",
    max: 64,
    extra: "._-",
};

pub const RAM_GROUP_NAME: RamName = RamName {
    kind: "group",
    ..RAM_USER_NAME
};

pub const RAM_ROLE_NAME: RamName = RamName {
    kind: "role",
    max: 64,
    extra: ".-",
};

pub const RAM_POLICY_NAME: RamName = RamName {
    kind: "policy",
    max: 128,
    extra: "-",
};

impl RamName {
    /// Whether `c` may appear in such a name.
    pub fn allows(&self, c: char) -> bool {
        c.is_ascii_alphanumeric() || self.extra.contains(c)
    }

    /// What is wrong with `name`, if anything; the length is checked first.
    pub fn problem(&self, name: &str) -> Option<RamNameProblem> {
        let length = name.chars().count();
        if length == 0 || length > self.max {
            Some(RamNameProblem::Length)
        } else if !name.chars().all(|c| self.allows(c)) {
            Some(RamNameProblem::InvalidChars)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_for_length_first_then_characters() {
        assert_eq!(RAM_USER_NAME.problem("alice.b_c-d"), None);
        assert_eq!(RAM_USER_NAME.problem(""), Some(RamNameProblem::Length));
        assert_eq!(
            RAM_USER_NAME.problem(&"a".repeat(65)),
            Some(RamNameProblem::Length)
        );
        assert_eq!(RAM_USER_NAME.problem(&"a".repeat(64)), None);
        assert_eq!(
            RAM_USER_NAME.problem("bad name"),
            Some(RamNameProblem::InvalidChars)
        );
        assert_eq!(
            RAM_ROLE_NAME.problem("ops_role"),
            Some(RamNameProblem::InvalidChars)
        );
        assert_eq!(RAM_GROUP_NAME.problem("a_group"), None);
        assert_eq!(RAM_POLICY_NAME.problem(&"p".repeat(128)), None);
        assert_eq!(
            RAM_POLICY_NAME.problem("p.q"),
            Some(RamNameProblem::InvalidChars)
        );
    }
}
