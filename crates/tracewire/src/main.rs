//! The `tracewire` command: runs the traced microservice demo and renders saved traces.
//!
//! ```text
//! tracewire demo               # in-process services on loopback, prints each trace as a tree
//! tracewire serve inventory    # one service as its own process (also order, payment)
//! tracewire view traces.jsonl  # renders traces saved by the OTLP-JSON file exporter
//! ```

mod broker;
mod demo;
mod serve;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Traced microservice communication: every hop carries OpenTelemetry context.
#[derive(Debug, Parser)]
#[command(name = "tracewire", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run services in this process on loopback, send traced requests through them and
    /// print the resulting distributed traces.
    Demo(demo::DemoArgs),
    /// Run one service of the reference system (order, inventory or payment) as its own
    /// process, with telemetry from OTEL_* and a graceful stop on SIGINT/SIGTERM.
    Serve(serve::ServeArgs),
    /// Render traces saved as OTLP JSON lines (the file exporter's output) as trees.
    View(view::ViewArgs),
}

/// Columns of the waterfall bar left of each span (demo and view draw the same).
const WATERFALL_WIDTH: usize = 24;

/// When to colour the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        use std::io::IsTerminal as _;
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => block_on(demo::run(args)),
        Command::Serve(args) => block_on(serve::run(args)),
        Command::View(args) => view::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `future` on a multi-threaded runtime.
fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(future)
}
