use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = paygraph::cli::Cli::parse();
    let serving = cli.serves().then(paygraph::config::Config::from_env);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(Ok(config)) = &serving
        && config.workers.transfer_workers_first
    {
        // The server is built on this thread, which keeps the process's
        // niceness, so that the transfer workers it starts inherit that.
        runtime.on_thread_start(paygraph::priority::step_down_request_thread);
    }
    let runtime = runtime.build().expect("a runtime for the server");
    let outcome = match serving {
        Some(config) => config.and_then(|config| runtime.block_on(paygraph::cli::serve(config))),
        None => runtime.block_on(paygraph::cli::run(cli)),
    };
    match outcome {
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
