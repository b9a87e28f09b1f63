use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = paygraph::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(paygraph::priority::step_down_request_thread)
        .build()
        .expect("a runtime for the server");
    // The server is built on this thread, which keeps the process's
    // niceness, so that the transfer workers it starts inherit that.
    match runtime.block_on(paygraph::cli::run(cli)) {
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
