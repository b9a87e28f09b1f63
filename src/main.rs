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

/// mimalloc: cheaper than glibc's malloc under many threads (no per-thread
/// arenas to consolidate), and it hands large blocks back to the system,
/// which matters because argon2 allocates 19 MiB per password hash.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
