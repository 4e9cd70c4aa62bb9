//! Address globs for `import --select`: `*` matches any run of characters (dots included), `?`
//! one character; everything else matches itself. `workspace.chatbot-*` picks the workspaces
//! whose names start with `chatbot-`, `ram.user.*` every RAM user.

/// An address glob (matched by [`crate::policy::wildcard_match_exact`], case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            text: pattern.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        crate::policy::wildcard_match_exact(&self.text, text)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn stars_and_question_marks_match_runs_and_single_characters() {
        let g = Glob::new("workspace.chatbot-*");
        assert!(g.matches("workspace.chatbot-dev"));
        assert!(g.matches("workspace.chatbot-prod.member.alice"));
        assert!(!g.matches("workspace.billing-dev"));
        assert!(Glob::new("ram.user.?ob").matches("ram.user.bob"));
        assert!(!Glob::new("ram.user.?ob").matches("ram.user.bobby"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("ram.*.policy.Aliyun*").matches("ram.user.alice.policy.AliyunX"));
        assert!(!Glob::new("ram.user.alice").matches("ram.user.alicex"));
    }
}
