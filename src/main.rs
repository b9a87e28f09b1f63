use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = paygraph::cli::Cli::parse();
    match paygraph::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("paygraph: {line}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// mimalloc: glibc's malloc and free were an eighth of the server's CPU
/// under load (per-thread arenas, `malloc_consolidate`). It also hands large
/// blocks back to the system, which glibc did only with its mmap threshold
/// pinned: argon2 allocates 19 MiB per password hash, and 200 registrations
/// once left 580 MB resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
