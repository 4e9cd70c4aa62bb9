//! Tests of the git edge against throwaway repositories built with git2 (fixed signatures and
//! times, so ids and blame are reproducible).

use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, Signature, Time};
use tempfile::TempDir;

use super::*;
use crate::model::Address;

/// A repository in a temporary folder, committed to file by file.
struct Fixture {
    dir: TempDir,
    repo: Repository,
    /// Commits made so far; each one a minute after the previous.
    count: i64,
}

const BASE_TIME: i64 = 1_700_000_000;

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init(dir.path()).expect("git init");
        Fixture {
            dir,
            repo,
            count: 0,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).expect("remove");
    }

    fn signature(&self, author: &str) -> Signature<'static> {
        let email = format!("{}@example.com", author.to_lowercase());
        Signature::new(author, &email, &Time::new(BASE_TIME + self.count * 60, 480))
            .expect("signature")
    }

    /// Stages every change in the work tree (additions, edits, deletions) and commits it on
    /// `HEAD`.
    fn commit(&mut self, author: &str, message: &str) -> Oid {
        let mut index = self.repo.index().expect("index");
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree_id = index.write_tree().expect("write tree");
        let parents = self.head_commits();
        self.commit_tree(author, message, tree_id, &parents, Some("HEAD"))
    }

    fn head_commits(&self) -> Vec<Oid> {
        self.repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .into_iter()
            .collect()
    }

    fn commit_tree(
        &mut self,
        author: &str,
        message: &str,
        tree_id: Oid,
        parents: &[Oid],
        update_ref: Option<&str>,
    ) -> Oid {
        let sig = self.signature(author);
        let tree = self.repo.find_tree(tree_id).expect("tree");
        let parents: Vec<_> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).expect("parent"))
            .collect();
        let parent_refs: Vec<_> = parents.iter().collect();
        self.count += 1;
        self.repo
            .commit(update_ref, &sig, &sig, message, &tree, &parent_refs)
            .expect("commit")
    }

    fn open(&self) -> Repo {
        Repo::open(self.dir.path()).expect("open repo")
    }
}

fn texts(sources: &SourceSet) -> Vec<(String, String)> {
    sources
        .files
        .iter()
        .map(|f| {
            let path = f.path.to_string_lossy().replace('\\', "/");
            (path, f.text.clone())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn sources_at_reads_the_old_texts_from_subfolders_and_skips_hidden_folders() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# v1\n");
    fx.write("cfg/teams/ml.toml", "# team v1\n");
    fx.write("cfg/.drafts/wip.toml", "# hidden\n");
    fx.write("cfg/target/out.toml", "# build output\n");
    fx.write("cfg/README.md", "not config\n");
    fx.write("elsewhere.toml", "# outside the config dir\n");
    fx.commit("Alice", "first");
    fx.write("cfg/msctl.toml", "# v2\n");
    fx.write("cfg/teams/new.toml", "# new\n");
    let second = fx.commit("Bob", "second");
    // Uncommitted edits must not leak into any revision.
    fx.write("cfg/msctl.toml", "# v3, not committed\n");

    let repo = fx.open();
    let old = repo.sources_at("HEAD~1", Path::new("cfg")).unwrap();
    assert_eq!(
        texts(&old),
        pairs(&[("msctl.toml", "# v1\n"), ("teams/ml.toml", "# team v1\n")])
    );
    let short = repo.resolve("HEAD~1").unwrap().short;
    assert_eq!(old.origin, format!("HEAD~1 ({short}):cfg"));

    let by_sha = repo
        .sources_at(&second.to_string(), Path::new("cfg"))
        .unwrap();
    assert_eq!(
        texts(&by_sha),
        pairs(&[
            ("msctl.toml", "# v2\n"),
            ("teams/ml.toml", "# team v1\n"),
            ("teams/new.toml", "# new\n"),
        ])
    );
}

#[test]
fn sources_at_head_matches_the_working_tree_loader() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "[project]\n");
    fx.write("cfg/a/b/deep.toml", "# deep\n");
    fx.write("cfg/.git-crypt/x.toml", "# hidden\n");
    fx.write("cfg/target/x.toml", "# skipped\n");
    fx.commit("Alice", "config");

    let repo = fx.open();
    let from_git = repo.sources_at("HEAD", Path::new("cfg")).unwrap();
    let from_dir = crate::config::sources_from_dir(&fx.path("cfg")).unwrap();
    assert_eq!(texts(&from_git), texts(&from_dir));
}

#[test]
fn sources_at_the_root_and_by_absolute_path() {
    let mut fx = Fixture::new();
    fx.write("msctl.toml", "# root\n");
    fx.write("sub/x.toml", "# x\n");
    fx.commit("Alice", "root config");

    let repo = fx.open();
    let root = repo.sources_at("HEAD", Path::new("")).unwrap();
    assert!(root.origin.ends_with("):."), "{}", root.origin);
    assert_eq!(texts(&root).len(), 2);
    let abs = repo.sources_at("HEAD", &fx.path("sub")).unwrap();
    assert_eq!(texts(&abs), pairs(&[("x.toml", "# x\n")]));
    assert!(abs.origin.ends_with("):sub"), "{}", abs.origin);
}

#[test]
fn referenced_files_are_read_from_the_same_tree() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# cfg\n");
    fx.write("cfg/policies/p.json", "{\"v\": 1}");
    fx.write("shared/common.json", "{\"shared\": 1}");
    fx.commit("Alice", "policy v1");
    fx.write("cfg/policies/p.json", "{\"v\": 2}");
    fx.commit("Alice", "policy v2");
    fx.write("cfg/policies/p.json", "{\"v\": 3, \"uncommitted\": true}");

    let repo = fx.open();
    let old = repo.sources_at("HEAD~1", Path::new("cfg")).unwrap();
    assert_eq!(
        old.read_extra(Path::new("policies/p.json"), 1 << 20)
            .unwrap(),
        "{\"v\": 1}"
    );
    assert_eq!(
        old.read_extra(Path::new("./policies/../policies/p.json"), 1 << 20)
            .unwrap(),
        "{\"v\": 1}"
    );
    assert_eq!(
        old.read_extra(Path::new("../shared/common.json"), 1 << 20)
            .unwrap(),
        "{\"shared\": 1}"
    );
    let head = repo.sources_at("HEAD", Path::new("cfg")).unwrap();
    assert_eq!(
        head.read_extra(Path::new("policies/p.json"), 1 << 20)
            .unwrap(),
        "{\"v\": 2}"
    );

    let missing = old
        .read_extra(Path::new("policies/nope.json"), 1 << 20)
        .unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    let short = repo.resolve("HEAD~1").unwrap().short;
    assert_eq!(
        missing.to_string(),
        format!("no such file at `HEAD~1` ({short})")
    );
    let escaping = old
        .read_extra(Path::new("../../../etc/passwd"), 1 << 20)
        .unwrap_err();
    assert_eq!(escaping.kind(), std::io::ErrorKind::InvalidInput);
    // A folder is not a file.
    assert!(old.read_extra(Path::new("policies"), 1 << 20).is_err());
}

#[cfg(unix)]
#[test]
fn symbolic_links_inside_the_tree_are_followed() {
    let mut fx = Fixture::new();
    fx.write("shared/common.toml", "# shared\n");
    fx.write("cfg/msctl.toml", "# cfg\n");
    std::os::unix::fs::symlink("../shared/common.toml", fx.path("cfg/common.toml")).unwrap();
    fx.commit("Alice", "linked config");

    let repo = fx.open();
    let sources = repo.sources_at("HEAD", Path::new("cfg")).unwrap();
    assert_eq!(
        texts(&sources),
        pairs(&[("common.toml", "# shared\n"), ("msctl.toml", "# cfg\n")])
    );

    std::os::unix::fs::symlink("/etc/hosts", fx.path("cfg/outside.toml")).unwrap();
    fx.commit("Alice", "a link out of the repository");
    let err = repo.sources_at("HEAD", Path::new("cfg")).unwrap_err();
    let short = repo.resolve("HEAD").unwrap().short;
    assert_eq!(
        err.to_string(),
        format!(
            "failed to read `outside.toml` at `HEAD` ({short}): it is a symbolic link to \
                `/etc/hosts`, which is not a file in that revision"
        )
    );
}

#[test]
fn unreadable_config_files_and_missing_config_dirs_say_which_revision() {
    let mut fx = Fixture::new();
    fx.write("other/x.toml", "# x\n");
    fx.commit("Alice", "no config yet");
    fx.write("cfg/msctl.toml", "# cfg\n");
    std::fs::write(fx.path("cfg/latin1.toml"), b"name = \"caf\xe9\"\n").unwrap();
    fx.commit("Alice", "config");

    let repo = fx.open();
    let old_short = repo.resolve("HEAD~1").unwrap().short;
    let err = repo.sources_at("HEAD~1", Path::new("cfg")).unwrap_err();
    assert!(matches!(err, GitError::ConfigDirNotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "config directory `cfg` does not exist at `HEAD~1` ({old_short})\n\
                hint: was it added or moved later? `git log --oneline -- cfg` shows its history"
        )
    );
    // A file where the folder should be is no config directory either.
    assert!(matches!(
        repo.sources_at("HEAD", Path::new("cfg/msctl.toml")),
        Err(GitError::ConfigDirNotFound { .. })
    ));

    let short = repo.resolve("HEAD").unwrap().short;
    let err = repo.sources_at("HEAD", Path::new("cfg")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to read `latin1.toml` at `HEAD` ({short}): the file is not valid UTF-8")
    );

    assert!(matches!(
        repo.sources_at("HEAD", Path::new("../cfg")),
        Err(GitError::InvalidPath { .. })
    ));
}

#[test]
fn dirty_counts_changes_under_the_config_dir_only() {
    let mut fx = Fixture::new();
    fx.write(".gitignore", "*.db\n");
    fx.write("cfg/msctl.toml", "# v1\n");
    fx.write("cfg/policies/p.json", "{}");
    fx.write("src/main.rs", "fn main() {}\n");
    fx.commit("Alice", "first");
    let repo = fx.open();
    let cfg = Path::new("cfg");
    assert!(!repo.is_dirty(cfg).unwrap(), "clean after commit");

    fx.write("cfg/state.db", "ignored");
    assert!(!repo.is_dirty(cfg).unwrap(), "ignored files do not count");

    fx.write("src/main.rs", "fn main() { changed() }\n");
    fx.write("notes.txt", "untracked outside");
    assert!(!repo.is_dirty(cfg).unwrap(), "changes outside do not count");
    assert!(
        repo.is_dirty(Path::new("")).unwrap(),
        "but count for the root"
    );

    fx.write("cfg/msctl.toml", "# v2\n");
    assert!(repo.is_dirty(cfg).unwrap(), "modified");
    fx.write("cfg/msctl.toml", "# v1\n");
    assert!(!repo.is_dirty(cfg).unwrap(), "reverted");

    fx.write("cfg/teams/new.toml", "# new\n");
    assert!(repo.is_dirty(cfg).unwrap(), "untracked, in a new folder");
    fx.remove("cfg/teams/new.toml");

    fx.remove("cfg/policies/p.json");
    assert!(repo.is_dirty(cfg).unwrap(), "deleted");
    fx.write("cfg/policies/p.json", "{}");
    assert!(!repo.is_dirty(cfg).unwrap(), "restored");

    // A sibling sharing the prefix is not under the config dir.
    fx.write("cfg-old/x.toml", "# sibling\n");
    assert!(!repo.is_dirty(cfg).unwrap(), "cfg-old is not cfg");

    // Folders the loader skips: the default state folder changes on every apply.
    fx.write("cfg/.msctl/local.db-journal", "state");
    fx.write("cfg/target/out.toml", "# build output\n");
    assert!(
        !repo.is_dirty(cfg).unwrap(),
        "hidden folders and target do not count"
    );
    fx.write("cfg/.hidden.toml", "# a hidden file is still loaded\n");
    assert!(repo.is_dirty(cfg).unwrap(), "hidden files count");
}

#[test]
fn skipped_folders_are_recognised() {
    assert!(in_skipped_folder(b"/.msctl/local.db"));
    assert!(in_skipped_folder(b".msctl/"));
    assert!(in_skipped_folder(b"teams/target/x.toml"));
    assert!(!in_skipped_folder(b"/.hidden.toml"));
    assert!(!in_skipped_folder(b"teams/"));
    assert!(!in_skipped_folder(b"teams/a.toml"));
}

#[test]
fn head_commit_is_none_before_the_first_commit() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# v1\n");
    let repo = fx.open();
    assert_eq!(repo.head_commit().unwrap(), None);
    let err = repo.resolve("HEAD").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`HEAD` does not exist: the repository has no commits yet\n\
            hint: commit the config first: msctl reads it from a revision"
    );

    let id = fx.commit("Alice", "first commit\n\nWith a body.");
    let head = repo.head_commit().unwrap().unwrap();
    assert_eq!(head.id, id.to_string());
    assert!(head.id.starts_with(&head.short) && head.short.len() >= 7);
    assert_eq!(head.summary, "first commit");
    assert_eq!(head.author, "Alice");
    assert_eq!(
        head.time,
        CommitTime {
            seconds: BASE_TIME,
            offset_minutes: 480
        }
    );
    assert_eq!(head.time.to_string(), "2023-11-15 06:13:20 +0800");
    assert_eq!(repo.resolve("HEAD").unwrap(), head);
}

#[test]
fn commit_times_render_in_the_authors_offset() {
    let t = |seconds, offset_minutes| {
        CommitTime {
            seconds,
            offset_minutes,
        }
        .to_string()
    };
    assert_eq!(t(0, 0), "1970-01-01 00:00:00 +0000");
    assert_eq!(t(BASE_TIME, -330), "2023-11-14 16:43:20 -0530");
    assert_eq!(t(951_825_600, 0), "2000-02-29 12:00:00 +0000");
    assert_eq!(t(-1, 0), "1969-12-31 23:59:59 +0000");
    // Nonsense from a hand-crafted commit must not panic.
    let _ = t(i64::MAX, 1440);
    let _ = t(i64::MIN, -1440);
}

#[test]
fn ancestry_and_the_commits_not_yet_applied() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# 1\n");
    let c1 = fx.commit("Alice", "one");
    fx.write("cfg/msctl.toml", "# 2\n");
    let c2 = fx.commit("Bob", "two");
    fx.write("cfg/msctl.toml", "# 3\n");
    let c3 = fx.commit("Alice", "three");
    // A commit on a side branch, off c1.
    let tree = fx.repo.find_commit(c1).unwrap().tree_id();
    let side = fx.commit_tree("Carol", "side", tree, &[c1], Some("refs/heads/side"));

    let repo = fx.open();
    let (s1, s2, s3) = (c1.to_string(), c2.to_string(), c3.to_string());
    assert!(repo.is_ancestor(&s1, &s3).unwrap());
    assert!(repo.is_ancestor(&s2, "HEAD").unwrap());
    assert!(
        repo.is_ancestor(&s3, &s3).unwrap(),
        "a commit is its own ancestor"
    );
    assert!(!repo.is_ancestor(&s3, &s1).unwrap());
    assert!(!repo.is_ancestor(&side.to_string(), &s3).unwrap());
    assert!(repo.is_ancestor(&s1, "side").unwrap());

    let ahead = repo.commits_between(&s1, &s3).unwrap();
    let summaries: Vec<_> = ahead.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["three", "two"]);
    assert_eq!(ahead[0].id, s3);
    assert!(repo.commits_between(&s3, &s1).unwrap().is_empty());
    assert!(repo.commits_between(&s3, "HEAD").unwrap().is_empty());
    let diverged = repo.commits_between("side", "HEAD").unwrap();
    assert_eq!(diverged.len(), 2, "c2 and c3 are not on side");
}

#[test]
fn blame_names_the_commit_that_last_changed_a_line() {
    let mut fx = Fixture::new();
    fx.write(
        "cfg/workspaces.toml",
        "[[workspace]]\nname = \"chatbot-dev\"\ndescription = \"dev\"\n",
    );
    let c1 = fx.commit("Alice", "add chatbot-dev");
    fx.write("cfg/msctl.toml", "# unrelated\n");
    fx.commit("Carol", "unrelated");
    fx.write(
        "cfg/workspaces.toml",
        "[[workspace]]\nname = \"chatbot-dev\"\ndescription = \"development\"\n",
    );
    let c3 = fx.commit("Bob", "describe chatbot-dev");

    let repo = Repo::open(&fx.path("cfg")).unwrap();
    assert_eq!(repo.config_dir(), Path::new("cfg"));
    let path = repo.path_in_repo(Path::new("workspaces.toml"));
    assert_eq!(path, Path::new("cfg/workspaces.toml"));

    let changed = repo.blame_line("HEAD", &path, 3).unwrap().unwrap();
    assert_eq!(
        (changed.id, changed.author.as_str()),
        (c3.to_string(), "Bob")
    );
    let unchanged = repo.blame_line("HEAD", &path, 2).unwrap().unwrap();
    assert_eq!(
        (unchanged.id, unchanged.author.as_str()),
        (c1.to_string(), "Alice")
    );
    let before = repo.blame_line("HEAD~1", &path, 3).unwrap().unwrap();
    assert_eq!(before.id, c1.to_string(), "as of HEAD~1, Alice wrote it");

    assert_eq!(
        repo.blame_line("HEAD", &path, 4).unwrap(),
        None,
        "no line 4"
    );
    assert_eq!(repo.blame_line("HEAD", &path, 0).unwrap(), None);
    let new_file = repo.path_in_repo(Path::new("uncommitted.toml"));
    assert_eq!(repo.blame_line("HEAD", &new_file, 1).unwrap(), None);
    assert!(matches!(
        repo.blame_line("HEAD~7", &path, 1),
        Err(GitError::RevisionNotFound { .. })
    ));
}

#[test]
fn notes_round_trip_and_overwrite() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# 1\n");
    let c1 = fx.commit("Alice", "one");
    fx.write("cfg/msctl.toml", "# 2\n");
    let c2 = fx.commit("Alice", "two");
    let repo = fx.open();
    let (s1, s2) = (c1.to_string(), c2.to_string());

    assert_eq!(repo.read_note(&s1, DEFAULT_NOTES_REF).unwrap(), None);
    repo.write_note(&s1, DEFAULT_NOTES_REF, r#"{"applied":1}"#)
        .unwrap();
    assert_eq!(
        repo.read_note(&s1, DEFAULT_NOTES_REF).unwrap().as_deref(),
        Some(r#"{"applied":1}"#)
    );
    repo.write_note(&s1, "msctl", r#"{"applied":2}"#).unwrap();
    assert_eq!(
        repo.read_note(&s1, DEFAULT_NOTES_REF).unwrap().as_deref(),
        Some(r#"{"applied":2}"#),
        "overwritten, and `msctl` means refs/notes/msctl"
    );
    assert_eq!(repo.read_note(&s2, DEFAULT_NOTES_REF).unwrap(), None);
    // Other note refs (git's default) are separate.
    assert_eq!(repo.read_note(&s1, "refs/notes/commits").unwrap(), None);
    assert!(fx.repo.find_reference(DEFAULT_NOTES_REF).is_ok());
}

#[test]
fn latest_noted_commit_follows_the_first_parent_history() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# 1\n");
    let c1 = fx.commit("Alice", "one");
    fx.write("cfg/msctl.toml", "# 2\n");
    let c2 = fx.commit("Alice", "two");
    let repo = fx.open();
    assert_eq!(
        repo.latest_noted_commit(DEFAULT_NOTES_REF, "HEAD").unwrap(),
        None,
        "no notes ref yet"
    );

    // A feature branch off c2, applied from the branch (noted), then merged.
    let tree = fx.repo.find_commit(c2).unwrap().tree_id();
    let feature = fx.commit_tree("Bob", "feature", tree, &[c2], Some("refs/heads/feature"));
    fx.write("cfg/msctl.toml", "# 3\n");
    let c3 = fx.commit("Alice", "three");
    let merge_tree = fx.repo.find_commit(c3).unwrap().tree_id();
    let merge = fx.commit_tree(
        "Alice",
        "merge feature",
        merge_tree,
        &[c3, feature],
        Some("HEAD"),
    );
    fx.write("cfg/msctl.toml", "# 4\n");
    fx.commit("Alice", "four");

    repo.write_note(&c1.to_string(), DEFAULT_NOTES_REF, "{\"n\":1}")
        .unwrap();
    repo.write_note(&feature.to_string(), DEFAULT_NOTES_REF, "{\"n\":\"f\"}")
        .unwrap();
    let (info, note) = repo
        .latest_noted_commit(DEFAULT_NOTES_REF, "HEAD")
        .unwrap()
        .unwrap();
    assert_eq!(
        (info.id, note.as_str()),
        (c1.to_string(), "{\"n\":1}"),
        "the merged branch's note is not on the first-parent history"
    );

    repo.write_note(&merge.to_string(), DEFAULT_NOTES_REF, "{\"n\":\"m\"}")
        .unwrap();
    let (info, _) = repo
        .latest_noted_commit(DEFAULT_NOTES_REF, "HEAD")
        .unwrap()
        .unwrap();
    assert_eq!(info.id, merge.to_string());
    assert_eq!(info.summary, "merge feature");
    let (info, _) = repo
        .latest_noted_commit(DEFAULT_NOTES_REF, "feature")
        .unwrap()
        .unwrap();
    assert_eq!(info.id, feature.to_string());
    let (info, _) = repo
        .latest_noted_commit("msctl", &c2.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(info.id, c1.to_string());
    assert_eq!(
        repo.latest_noted_commit("refs/notes/other", "HEAD")
            .unwrap(),
        None
    );
}

#[test]
fn bad_revisions_say_what_exists() {
    let mut fx = Fixture::new();
    for n in 1..=3 {
        fx.write("cfg/msctl.toml", &format!("# {n}\n"));
        fx.commit("Alice", &format!("commit {n}"));
    }
    fx.repo
        .branch(
            "main-line",
            &fx.repo.head().unwrap().peel_to_commit().unwrap(),
            false,
        )
        .unwrap();
    let repo = fx.open();

    let err = repo.resolve("HEAD~9").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`HEAD~9` does not exist: the history has 3 commits\n\
            hint: the oldest commit on it is `HEAD~2`"
    );
    assert!(repo.resolve("HEAD~2").is_ok());
    let err = repo
        .sources_at("main-line~3", Path::new("cfg"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`main-line~3` does not exist: the history of `main-line` has 3 commits\n\
            hint: the oldest commit on it is `main-line~2`"
    );
    let err = repo.resolve("no-such-branch").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`no-such-branch` does not exist: no branch, tag or commit has that name\n\
            hint: name a branch, tag, commit id or `HEAD~N`; `git log --oneline` lists commits"
    );
    assert!(matches!(
        repo.resolve("HEAD~1..HEAD"),
        Err(GitError::InvalidRevision { .. })
    ));
    let tree = fx
        .repo
        .head()
        .unwrap()
        .peel_to_tree()
        .unwrap()
        .id()
        .to_string();
    let err = repo.resolve(&tree).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("`{tree}` names a tree, not a commit")),
        "{err}"
    );
    assert!(matches!(
        repo.is_ancestor("HEAD", "nope"),
        Err(GitError::RevisionNotFound { .. })
    ));
}

#[test]
fn discover_finds_the_repository_above_a_config_dir() {
    let mut fx = Fixture::new();
    fx.write("examples/quickstart/msctl.toml", "# q\n");
    fx.commit("Alice", "quickstart");
    let repo = Repo::discover(&fx.path("examples/quickstart"))
        .unwrap()
        .unwrap();
    assert_eq!(repo.config_dir(), Path::new("examples/quickstart"));
    assert_eq!(
        repo.workdir(),
        fx.dir.path().canonicalize().unwrap().as_path()
    );
    let sources = repo.sources_at("HEAD", repo.config_dir()).unwrap();
    let short = repo.resolve("HEAD").unwrap().short;
    assert_eq!(
        sources.origin,
        format!("HEAD ({short}):examples/quickstart")
    );

    let plain = tempfile::tempdir().unwrap();
    // Only meaningful when the temp folder is not itself inside some repository.
    if Repository::discover(plain.path()).is_err() {
        assert!(Repo::discover(plain.path()).unwrap().is_none());
        let err = Repo::open(plain.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("not a git repository: `")
                && err.to_string().contains("\nhint: "),
            "{err}"
        );
    }
    assert!(matches!(
        Repo::discover(&fx.path("does/not/exist")),
        Err(GitError::Io { .. })
    ));
}

#[test]
fn config_at_an_old_revision_gives_the_old_desired_state() {
    let mut fx = Fixture::new();
    fx.write(
        "cfg/msctl.toml",
        "[project]\nname = \"demo\"\ndefault_region = \"cn-beijing\"\n",
    );
    fx.write(
        "cfg/workspaces.toml",
        "[[workspace]]\nname = \"support-bot\"\n",
    );
    fx.write(
        "cfg/ram.toml",
        "[[ram.policy]]\nname = \"reader\"\nfile = \"policies/reader.json\"\n",
    );
    let policy = |action: &str| {
        format!(
            "{{\"Version\": \"1\", \"Statement\": [{{\"Effect\": \"Allow\", \"Action\": [\"\
                {action}\"], \"Resource\": \"*\"}}]}}"
        )
    };
    fx.write("cfg/policies/reader.json", &policy("sfm:DescribeIndex"));
    fx.commit("Alice", "support bot");
    fx.write(
        "cfg/workspaces.toml",
        "[[workspace]]\nname = \"helpdesk-bot\"\nrenamed_from = \"support-bot\"\n",
    );
    fx.write("cfg/policies/reader.json", &policy("sfm:CreateIndex"));
    fx.commit("Bob", "rename support-bot to helpdesk-bot");

    let repo = fx.open();
    let load = |rev: &str| {
        let loaded = crate::config::load(repo.sources_at(rev, Path::new("cfg")).unwrap());
        let rendered: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| d.render(loaded.sources()))
            .collect();
        loaded
            .config
            .unwrap_or_else(|| panic!("{rev} should load: {rendered:?}"))
    };
    let workspace = |name: &str| Address::Workspace { name: name.into() };
    let policy_address = Address::RamPolicy {
        name: "reader".into(),
    };

    let old = load("HEAD~1");
    assert!(old.desired.get(&workspace("support-bot")).is_some());
    assert!(old.desired.get(&workspace("helpdesk-bot")).is_none());
    let new = load("HEAD");
    assert!(new.desired.get(&workspace("support-bot")).is_none());
    assert!(new.desired.get(&workspace("helpdesk-bot")).is_some());

    let document = |config: &crate::config::Config| {
        serde_json::to_string(config.desired.get(&policy_address).expect("policy")).unwrap()
    };
    assert!(document(&old).contains("sfm:DescribeIndex"));
    assert!(document(&new).contains("sfm:CreateIndex"));
}

#[cfg(unix)]
#[test]
fn linked_folders_are_walked_at_a_revision_like_in_the_working_tree() {
    let mut fx = Fixture::new();
    fx.write("shared/people/users.toml", "# users\n");
    fx.write("cfg/msctl.toml", "# cfg\n");
    fx.write("cfg/target/old.toml", "# old\n");
    std::os::unix::fs::symlink("../shared/people", fx.path("cfg/people")).unwrap();
    // A loop back to the config directory, and a second link to the same folder.
    std::os::unix::fs::symlink(".", fx.path("cfg/again")).unwrap();
    std::os::unix::fs::symlink("people", fx.path("cfg/zz-people")).unwrap();
    fx.commit("Alice", "linked folders");

    let repo = fx.open();
    let from_git = repo.sources_at("HEAD", Path::new("cfg")).unwrap();
    assert_eq!(
        texts(&from_git),
        pairs(&[
            ("msctl.toml", "# cfg\n"),
            ("people/users.toml", "# users\n")
        ])
    );
    let from_dir = crate::config::sources_from_dir(&fx.path("cfg")).unwrap();
    assert_eq!(texts(&from_git), texts(&from_dir));
    assert_eq!(from_git.skipped, from_dir.skipped);
    let skipped: Vec<_> = from_git
        .skipped
        .iter()
        .map(|s| (s.path.display().to_string(), s.holds_toml))
        .collect();
    assert_eq!(
        skipped,
        [
            ("again".to_string(), true),
            ("target".to_string(), true),
            ("zz-people".to_string(), true)
        ]
    );
}

#[test]
fn referenced_files_at_a_revision_are_bounded() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# cfg\n");
    fx.write("cfg/big.json", &"x".repeat(2000));
    fx.commit("Alice", "a big file");
    let repo = fx.open();
    let sources = repo.sources_at("HEAD", Path::new("cfg")).unwrap();
    let err = sources.read_extra(Path::new("big.json"), 1000).unwrap_err();
    assert_eq!(err.to_string(), "it is larger than 1000 bytes");
    assert_eq!(
        sources
            .read_extra(Path::new("big.json"), 2000)
            .unwrap()
            .len(),
        2000
    );
}

#[cfg(unix)]
#[test]
fn uncommitted_reads_follow_links_and_leave_the_config_dir() {
    let mut fx = Fixture::new();
    fx.write("cfg/msctl.toml", "# cfg\n");
    fx.write("shared/p.json", "{}");
    fx.write("other/q.json", "{}");
    std::os::unix::fs::symlink("shared", fx.path("alias")).unwrap();
    std::os::unix::fs::symlink("../shared", fx.path("cfg/linked")).unwrap();
    fx.commit("Alice", "config");
    let repo = Repo::open(&fx.path("cfg")).expect("open repo");

    let committed = [
        PathBuf::from("msctl.toml"),
        PathBuf::from("linked/p.json"),
        PathBuf::from("../alias/p.json"),
        PathBuf::from("../other/q.json"),
    ];
    assert_eq!(
        repo.uncommitted_reads(&committed).unwrap(),
        Vec::<String>::new()
    );

    fx.write("other/new.json", "{}");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("o.json"), "{}").unwrap();
    let found = repo
        .uncommitted_reads(&[
            PathBuf::from("../other/new.json"),
            outside.path().join("o.json"),
        ])
        .unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        "`../other/new.json` (`other/new.json` in the repository) is untracked"
    );
    assert!(
        found[1].contains("o.json` is outside the repository"),
        "{found:?}"
    );

    // A retargeted link reads another (committed) file: the link's change counts.
    std::fs::remove_file(fx.path("alias")).unwrap();
    std::os::unix::fs::symlink("other", fx.path("alias")).unwrap();
    let found = repo
        .uncommitted_reads(&[PathBuf::from("../alias/q.json")])
        .unwrap();
    assert_eq!(
        found,
        ["`../alias/q.json` (`alias` in the repository) has uncommitted changes".to_string()]
    );
}
