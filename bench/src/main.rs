use clap::Parser;
use corekv_bench::{run, Opts};
use std::process::ExitCode;

fn main() -> ExitCode {
    let opts = Opts::parse();
    if let Err(e) = opts.validate() {
        eprintln!("corekv-bench: {e}");
        return ExitCode::from(2);
    }
    match run(&opts) {
        Ok(report) => {
            if opts.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("corekv-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
