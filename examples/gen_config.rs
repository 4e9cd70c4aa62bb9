//! Generates a synthetic msctl config of a given size, for benchmarks of validate, plan and apply:
//! `cargo run --release --example gen_config -- --workspaces 500 --users 5000 --out DIR`.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Number of workspaces (rounded up to a multiple of 3: dev, test, prod).
    #[arg(long, default_value_t = 500)]
    workspaces: usize,
    /// Number of RAM users.
    #[arg(long, default_value_t = 5000)]
    users: usize,
    /// Members per workspace.
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Output directory (created; existing *.toml files in it are overwritten).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let g = msctl::synthetic::generate(&args.out, args.workspaces, args.users, args.members)?;
    eprintln!(
        "wrote {} workspaces and {} users to {}",
        g.workspaces,
        g.users,
        args.out.display()
    );
    Ok(())
}
