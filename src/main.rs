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
