//! Address globs for `import --select`: `*` matches any run of characters (dots included), `?`
//! one character; everything else matches itself. `workspace.chatbot-*` picks the workspaces
//! whose names start with `chatbot-`, `ram.user.*` every RAM user.

/// A compiled address glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    text: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.chars().collect(),
            text: pattern.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `text` matches. Linear in pattern × text, without backtracking.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let p = &self.pattern;
        // reach[j]: the pattern's first i characters match text[..j].
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for &c in p {
            let mut next = vec![false; text.len() + 1];
            match c {
                '*' => {
                    let mut any = false;
                    for j in 0..=text.len() {
                        any |= reach[j];
                        next[j] = any;
                    }
                }
                _ => {
                    for j in 1..=text.len() {
                        next[j] = reach[j - 1] && (c == '?' || c == text[j - 1]);
                    }
                }
            }
            reach = next;
        }
        reach[text.len()]
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
