//! `tracewire view FILE`: renders traces saved as OTLP JSON lines.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context as _;
use tracewire_telemetry::file::read_otlp_json_lines;
use tracewire_telemetry::tree::{RenderOptions, render_records};

use crate::{ColorChoice, WATERFALL_WIDTH};

/// Arguments of `tracewire view`.
#[derive(Debug, clap::Args)]
pub(crate) struct ViewArgs {
    /// A file of OTLP JSON lines (`OTEL_TRACES_EXPORTER=file`, `TRACEWIRE_TRACES_FILE`).
    file: PathBuf,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
}

pub(crate) fn run(args: &ViewArgs) -> anyhow::Result<()> {
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let records = read_otlp_json_lines(BufReader::new(file))
        .with_context(|| format!("{} is not OTLP JSON lines", args.file.display()))?;
    if records.is_empty() {
        anyhow::bail!("{} holds no spans", args.file.display());
    }
    let options = RenderOptions::new()
        .with_color(args.color.enabled())
        .with_waterfall(WATERFALL_WIDTH);
    print!("{}", render_records(&records, &options));
    Ok(())
}
