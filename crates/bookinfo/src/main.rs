//! `bookinfo productpage|details|reviews|ratings`: runs one Bookinfo service until Ctrl-C.
//! Prints `bookinfo SERVICE listening on ADDRESS` once it accepts connections.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use weft_bookinfo::client::{Policy, Upstream};
use weft_bookinfo::details::Details;
use weft_bookinfo::productpage::ProductPage;
use weft_bookinfo::ratings::Ratings;
use weft_bookinfo::reviews::{Reviews, Version};
use weft_bookinfo::{Error, server};

/// The Bookinfo demo application, one service per run.
#[derive(Debug, Parser)]
#[command(name = "bookinfo", version, about)]
struct Cli {
    #[command(subcommand)]
    service: Service,
}

#[derive(Debug, clap::Args)]
struct Listen {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 9080)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    address: String,
}

#[derive(Debug, Subcommand)]
enum Service {
    /// The book's web page; calls details and reviews.
    Productpage {
        #[command(flatten)]
        listen: Listen,
        #[arg(long, default_value = "http://details:9080")]
        details_url: String,
        #[arg(long, default_value = "http://reviews:9080")]
        reviews_url: String,
        /// Time allowed for each call to details and reviews, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// How many times a failed call is tried again.
        #[arg(long, default_value_t = 1)]
        retries: u32,
    },
    /// The book's details as JSON.
    Details {
        #[command(flatten)]
        listen: Listen,
    },
    /// Reader reviews; v2 and v3 call ratings.
    Reviews {
        #[command(flatten)]
        listen: Listen,
        #[arg(long, value_enum, default_value = "v1")]
        version: Version,
        #[arg(long, default_value = "http://ratings:9080")]
        ratings_url: String,
        /// Time allowed for the call to ratings, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        ratings_timeout_ms: u64,
    },
    /// Reviewers' star ratings as JSON.
    Ratings {
        #[command(flatten)]
        listen: Listen,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse().service).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bookinfo: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(service: Service) -> Result<(), Error> {
    let (name, address) = match service {
        Service::Productpage {
            listen,
            details_url,
            reviews_url,
            timeout_ms,
            retries,
        } => {
            let handler = ProductPage {
                details: Upstream::parse("--details-url", &details_url)?,
                reviews: Upstream::parse("--reviews-url", &reviews_url)?,
                policy: Policy {
                    timeout: Duration::from_millis(timeout_ms),
                    retries,
                },
            };
            let address = server::spawn(&listen.address, listen.port, handler).await?;
            ("productpage", address)
        }
        Service::Details { listen } => {
            let address = server::spawn(&listen.address, listen.port, Details).await?;
            ("details", address)
        }
        Service::Reviews {
            listen,
            version,
            ratings_url,
            ratings_timeout_ms,
        } => {
            let handler = Reviews {
                version,
                ratings: Upstream::parse("--ratings-url", &ratings_url)?,
                policy: Policy {
                    timeout: Duration::from_millis(ratings_timeout_ms),
                    retries: 0,
                },
            };
            let address = server::spawn(&listen.address, listen.port, handler).await?;
            ("reviews", address)
        }
        Service::Ratings { listen } => {
            let address = server::spawn(&listen.address, listen.port, Ratings).await?;
            ("ratings", address)
        }
    };
    let mut stdout = std::io::stdout().lock();
    // Tests and scripts wait for this line; if stdout is gone there is no one to tell.
    let _ = writeln!(stdout, "bookinfo {name} listening on {address}");
    let _ = stdout.flush();
    drop(stdout);
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample's timing, which Istio's fault-injection task relies on: productpage gives
    /// reviews 3 s and one retry (6 s in all), reviews gives ratings 10 s, so a 7 s delay on
    /// ratings shows the reviews error on the page.
    #[test]
    fn default_timeouts_match_the_fault_injection_task() {
        let cli = Cli::try_parse_from(["bookinfo", "productpage"]).expect("defaults");
        let Service::Productpage {
            timeout_ms,
            retries,
            details_url,
            reviews_url,
            listen,
        } = cli.service
        else {
            panic!("expected productpage");
        };
        assert_eq!((timeout_ms, retries, listen.port), (3000, 1, 9080));
        assert_eq!(
            (details_url.as_str(), reviews_url.as_str()),
            ("http://details:9080", "http://reviews:9080")
        );
        let cli =
            Cli::try_parse_from(["bookinfo", "reviews", "--version", "v3"]).expect("defaults");
        let Service::Reviews {
            version,
            ratings_timeout_ms,
            ratings_url,
            ..
        } = cli.service
        else {
            panic!("expected reviews");
        };
        assert_eq!((version, ratings_timeout_ms), (Version::V3, 10_000));
        assert_eq!(ratings_url, "http://ratings:9080");
        let budget = timeout_ms * u64::from(retries + 1);
        assert!(budget < 7_000 && 7_000 < ratings_timeout_ms);
    }
}
