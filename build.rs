//! Records the git revision and whether the tree was dirty, for run manifests.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    if let Some(rev) = git(&["rev-parse", "HEAD"]) {
        println!("cargo:rustc-env=MORTALSIM_GIT_REVISION={rev}");
        if let Some(status) = git(&["status", "--porcelain", "--untracked-files=no"]) {
            println!("cargo:rustc-env=MORTALSIM_GIT_DIRTY={}", !status.is_empty());
        }
    }
    // HEAD and the branch it points to (a commit moves the ref), not the index: `git status`
    // touches the index, and depending on it cost a full rebuild after every status. Edits of
    // the sources rerun this script through `src`, which keeps the dirty flag right for them.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={path}");
        }
        // A path that does not exist would rerun this script at every build.
        if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"])
            .filter(|p| std::path::Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={packed}");
        }
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
}
