//! The `felhom-agent` binary: argument parsing, mode dispatch, exit codes.
#![forbid(unsafe_code)]

use felhom_agent::cli::{self, Mode};
use felhom_agent::config::{self, Config, Env};
use felhom_agent::{exit, logging, modes};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let args = match cli::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("felhom-agent: {e}\nTry 'felhom-agent --help'.");
            return exit::USAGE;
        }
    };
    match args.mode {
        Mode::Help => {
            print!("{}", cli::HELP);
            return exit::OK;
        }
        Mode::Version => {
            println!("{}", cli::VERSION);
            return exit::OK;
        }
        _ => {}
    }
    let env = Env::from_process();
    let path = args
        .config
        .clone()
        .or_else(|| {
            std::env::var_os("FELHOM_AGENT_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG_PATH));
    let config = match Config::load(&path, &env) {
        Ok(c) => c,
        Err(e) => {
            logging::init(env.log_override.as_deref().unwrap_or("info"));
            log::error!("configuration invalid ({}): {e}", path.display());
            if args.json && args.mode == Mode::CheckConfig {
                let doc = serde_json::json!({"valid": false, "error": e.to_string()});
                println!("{doc}");
            }
            return exit::CONFIG;
        }
    };
    logging::init(&config.log_level);
    let ctx = modes::Context {
        config,
        config_path: path,
        json: args.json,
    };
    modes::dispatch(&ctx, &args.mode)
}
