//! The command line (docs/CONTRACT.md, "Command line"). Exit codes: 0 success,
//! 1 runtime error, 2 usage error (clap's own).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use spool_engine::config::DEFAULT_PORT;
use spool_engine::control::{AddRequest, ApiError, RelinkRequest};
use spool_engine::listing::MAX_PAGE;
use spool_engine::size::{format_size, parse_size};
use spool_engine::store::{read_engine_file, Store};
use spool_engine::{
    AddOptions, Added, CollectionAdded, CollectionView, Config, Engine, ItemView, PlayOptions, Playing,
};

#[derive(Parser, Debug)]
#[command(
    name = "spool",
    version,
    propagate_version = true,
    about = "Stream remote media to your player while it downloads into a local cache"
)]
#[cfg_attr(
    not(feature = "desktop"),
    command(
        version = concat!(env!("CARGO_PKG_VERSION"), " (headless)"),
        after_help = "This is the headless build: it has no desktop app, so `spool` and `spool URL` only say so."
    )
)]
struct Cli {
    /// Data directory (items, metadata); default: the per-user data directory.
    #[arg(long, env = "SPOOL_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,

    /// A media URL: start the desktop app (or use the running one), add it
    /// and play it. A `spool:play?url=…` or `spool:add?url=…` link: the app
    /// asks first. Without URL and command: the desktop app.
    // Not `args_conflicts_with_subcommands`: that also rejects the global
    // `--data-dir` before a subcommand. Requiring a scheme keeps a mistyped
    // subcommand a usage error (exit 2) instead of a URL to add.
    #[arg(value_parser = parse_url_arg)]
    url: Option<String>,

    /// Start the desktop app in the tray, without its window (as Start at
    /// login does); Open Spool in the tray menu, or another `spool`, shows it.
    #[arg(long)]
    tray: bool,
}

/// A bare `spool WORD` is a URL only if it has a scheme (`http://…`), or a
/// `spool:` link (the desktop app asks before it adds one).
fn parse_url_arg(arg: &str) -> Result<String, String> {
    let is_link = arg.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("spool:"));
    if arg.contains("://") || is_link {
        Ok(arg.to_string())
    } else {
        Err("not a command, nor a URL (expected http://… or https://…)".to_string())
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the engine alone in the foreground until SIGINT/SIGTERM.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Largest size of the cache, e.g. 10GiB, 500MB, 104857600.
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        cache_cap: Option<u64>,
        /// Free disk space downloads never write into; they wait for more (default 1GiB).
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        min_free: Option<u64>,
        /// Origin connections per item (segmented download; default 4).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=32), value_name = "N")]
        connections: Option<u16>,
        /// Bandwidth limit for all downloads together, per second (e.g. 5MiB).
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        rate_limit: Option<u64>,
        /// The player `spool play` starts when it names none (default: the
        /// first of mpv, vlc, celluloid, totem found, else the desktop's
        /// default for a playlist). `{url}` marks where the URLs go.
        #[arg(long, value_name = "CMD")]
        player: Option<String>,
        /// Items downloading at once; the others wait, queued (default 3).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256), value_name = "N")]
        max_active: Option<u16>,
        /// Remove watched items this many days after they were watched
        /// (pinned ones are kept; 0: at the next cache check; default: never).
        #[arg(long, value_name = "DAYS")]
        remove_watched_after: Option<u32>,
    },
    /// Add a URL to the running engine; prints its stream URL. A directory
    /// listing or playlist (a URL, or a local .m3u/.pls file) becomes a
    /// collection: one stream URL per item, in order.
    Add {
        /// A request header for every origin request, 'Name: value' (repeatable).
        #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'")]
        headers: Vec<String>,
        /// Add it even if it is the file of a failed item (by default that
        /// is an error suggesting `spool relink`).
        #[arg(long)]
        new_copy: bool,
        /// For a directory listing: add the files of its sub-folders too
        /// (one level down; theirs are counted, not followed).
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Print what was added as JSON: the item, or {"collection", "items", …}.
        #[arg(long)]
        json: bool,
        /// The URL of a media file, a directory listing or a playlist
        /// (http:// or https://), or a local .m3u/.pls file.
        url: String,
    },
    /// Give an item a new URL for the same file (an expired link refreshed);
    /// it keeps its bytes and stream URL, and resumes. Prints the stream URL.
    Relink {
        /// The item's id, as `spool ls` shows it.
        id: String,
        /// The new URL of the same file.
        url: String,
    },
    /// List the cached items.
    Ls {
        /// Print a JSON array of {id, source_url, stream_url, name, size, downloaded, state, pinned, error}.
        #[arg(long)]
        json: bool,
    },
    /// Remove an item and its files (a collection id: all its items).
    Rm {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
    },
    /// Keep an item (or a collection's items) when the cache evicts.
    Pin {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
    },
    /// Let the cache evict an item (or a collection's items) again.
    Unpin {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
    },
    /// Start a player on an item, at its saved position (through the
    /// running engine, which follows it); prints the player's process id
    /// and returns at once. A collection continues at its first unwatched item.
    Play {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
        /// The player command, e.g. 'mpv --fs' (default: the engine's).
        #[arg(long, value_name = "CMD")]
        player: Option<String>,
        /// Start at the beginning, not at the saved position.
        #[arg(long)]
        from_start: bool,
    },
    /// Pause an item's download (or a collection's).
    Pause {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
    },
    /// Resume a paused item, or retry a failed one (or a collection's).
    Resume {
        /// The id of an item or a collection, as `spool ls` shows it.
        id: String,
    },
    /// Move a queued item ahead of the other queued items.
    Front {
        /// The item's id, as `spool ls` shows it.
        id: String,
    },
    /// Print an item's playlist (it and the rest of its collection) as M3U.
    Playlist {
        /// The item's id, as `spool ls` shows it.
        id: String,
    },
}

/// Packaging's `spool generate-docs DIR`: outside the CLI definition, so
/// that neither `--help`, the man pages nor the completions offer it.
const GENERATE_DOCS: &str = "generate-docs";

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == GENERATE_DOCS) {
        let [_, _, dir] = args.as_slice() else {
            eprintln!("usage: spool {GENERATE_DOCS} DIR");
            return ExitCode::from(2);
        };
        return match crate::gendocs::generate(Cli::command(), Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let cli = Cli::parse();
    let data_dir = match cli.data_dir.clone().map(Ok).unwrap_or_else(default_data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    if cli.command.is_none() {
        return desktop(data_dir, cli.url, cli.tray);
    }
    if cli.tray {
        let mut command = Cli::command();
        command
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--tray starts the desktop app; it goes with no command",
            )
            .exit();
    }
    let serving = matches!(cli.command, Some(Command::Serve { .. }));
    init_logging(if serving { "info" } else { "warn" });
    let runtime = match spool_engine::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(run(cli, &data_dir));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `spool` and `spool URL`: the desktop app.
#[cfg(feature = "desktop")]
fn desktop(data_dir: PathBuf, url: Option<String>, tray: bool) -> ExitCode {
    // The desktop app runs Tauri's event loop on this thread, so no
    // runtime of our own here (Tauri brings one).
    init_logging("info");
    match spool_desktop::desktop::run(data_dir, url, tray) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.into()),
    }
}

/// The headless build has no desktop app: say so and what works instead.
/// Exit 2, a usage error: this invocation is not one this build offers.
#[cfg(not(feature = "desktop"))]
fn desktop(_data_dir: PathBuf, url: Option<String>, _tray: bool) -> ExitCode {
    let instead = match url {
        Some(url) => format!("`spool add {url}` adds it to a running engine (`spool serve`)"),
        None => "`spool serve` runs the engine; `spool add URL`, `spool ls` and the other commands use it"
            .to_string(),
    };
    eprintln!("spool: this is the headless build (no desktop app); {instead}");
    ExitCode::from(2)
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("spool: {e:#}");
    ExitCode::from(1)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "spool")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| anyhow!("cannot find a home directory; pass --data-dir or set SPOOL_DATA_DIR"))
}

async fn run(cli: Cli, data_dir: &Path) -> Result<()> {
    let Some(command) = cli.command else {
        // `main` runs the desktop app for these.
        bail!("no command");
    };
    match command {
        Command::Serve {
            port,
            cache_cap,
            min_free,
            connections,
            rate_limit,
            player,
            max_active,
            remove_watched_after,
        } => {
            let mut config = Config::new(data_dir);
            if let Some(cap) = cache_cap {
                config.cache_cap = cap;
            }
            if let Some(min_free) = min_free {
                config.min_free = min_free;
            }
            if let Some(n) = connections {
                config.connections_per_item = usize::from(n);
            }
            config.rate_limit = rate_limit.filter(|r| *r > 0);
            config.remove_watched_after_days = remove_watched_after;
            if let Some(n) = max_active {
                config.max_active = usize::from(n);
            }
            serve(config, port, player.as_deref()).await
        }
        Command::Add {
            headers,
            new_copy,
            recursive,
            json,
            url,
        } => {
            let options = AddOptions { new_copy, recursive };
            add(data_dir, &url, &headers, options, json).await
        }
        Command::Relink { id, url } => {
            let body = serde_json::to_value(RelinkRequest { url })?;
            let item: ItemView = Api::find(data_dir)?
                .call(reqwest::Method::POST, &format!("items/{id}/relink"), Some(body))
                .await?;
            println!("{}", item.stream_url);
            Ok(())
        }
        Command::Ls { json } => ls(data_dir, json).await,
        Command::Rm { id } => {
            Api::find(data_dir)?
                .call::<serde_json::Value>(reqwest::Method::DELETE, &format!("{}/{id}", kind(&id)), None)
                .await?;
            Ok(())
        }
        Command::Play {
            id,
            player,
            from_start,
        } => {
            let body = serde_json::to_value(PlayOptions { player, from_start })?;
            let playing: Playing = Api::find(data_dir)?
                .call(
                    reqwest::Method::POST,
                    &format!("{}/{id}/play", kind(&id)),
                    Some(body),
                )
                .await?;
            println!("{}", playing.pid);
            Ok(())
        }
        Command::Front { id } => action(data_dir, &id, "front").await,
        Command::Playlist { id } => {
            let text = Api::find(data_dir)?
                .text(&format!("items/{id}/playlist.m3u"))
                .await?;
            print!("{text}");
            Ok(())
        }
        Command::Pin { id } => action(data_dir, &id, "pin").await,
        Command::Unpin { id } => action(data_dir, &id, "unpin").await,
        Command::Pause { id } => action(data_dir, &id, "pause").await,
        Command::Resume { id } => action(data_dir, &id, "resume").await,
    }
}

async fn serve(config: Config, port: u16, player: Option<&str>) -> Result<()> {
    // Name the running engine before trying its port (which it holds too).
    drop(Store::open(&config.data_dir)?.lock()?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (use --port to pick another, or 0 for any)")
        })?;
    let engine = Engine::start(config, listener).await?;
    if let Some(player) = player {
        if let Err(e) = engine.set_player_command(player) {
            engine.shutdown().await;
            bail!("--player: {e}");
        }
    }
    let info = engine.info();
    tracing::info!("data directory {}", info.data_dir.display());
    // Scripts wait for this line: print it only once the socket accepts.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "spool listening on http://127.0.0.1:{}", info.port)?;
    stdout.flush()?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    engine.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn add(data_dir: &Path, url: &str, headers: &[String], options: AddOptions, json: bool) -> Result<()> {
    let AddOptions { new_copy, recursive } = options;
    let api = Api::find(data_dir)?;
    let request = match local_playlist(url)? {
        Some((file_url, text)) => AddRequest {
            url: file_url,
            headers: headers.to_vec(),
            new_copy,
            recursive,
            playlist: Some(text),
        },
        None => AddRequest {
            url: url.to_string(),
            headers: headers.to_vec(),
            new_copy,
            recursive,
            playlist: None,
        },
    };
    let body = serde_json::to_value(&request)?;
    let added: Added = api.call(reqwest::Method::POST, "items", Some(body)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&added)?);
    }
    match added {
        Added::Item(item) if !json => println!("{}", item.stream_url),
        Added::Item(_) => {}
        Added::Collection(added) => {
            if !json {
                for item in &added.items {
                    println!("{}", item.stream_url);
                }
            }
            report_collection(&added);
        }
    }
    Ok(())
}

/// What a collection's add left out, on stderr (stdout is the URLs).
fn report_collection(added: &CollectionAdded) {
    let c = &added.collection;
    eprintln!("collection {} \"{}\": {} items", c.id, c.name, added.items.len());
    for s in &added.skipped {
        eprintln!("skipped {}: it {}", s.link, s.reason.describe());
    }
    if added.dropped > 0 {
        eprintln!(
            "the listing names {} more media files than the {} taken from one listing; they were not added",
            added.dropped,
            spool_engine::listing::MAX_MEDIA
        );
    }
    if added.followed > 0 {
        eprintln!("{} sub-folders followed", added.followed);
    }
    if added.folders > 0 {
        eprintln!(
            "{} sub-folders not followed (add with --recursive for one level, or each by its URL)",
            added.folders
        );
    }
    for f in &added.failed {
        eprintln!("not added {}: {}", f.url, f.error);
    }
}

/// A path to a local playlist file: its `file:` URL and its text.
fn local_playlist(arg: &str) -> Result<Option<(String, String)>> {
    if arg.contains("://") || !Path::new(arg).is_file() {
        return Ok(None);
    }
    let path = std::fs::canonicalize(arg).with_context(|| format!("cannot read {arg}"))?;
    let len = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {arg}"))?
        .len();
    if len > MAX_PAGE as u64 {
        bail!("{arg} is larger than {} MiB; refused", MAX_PAGE >> 20);
    }
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {arg}"))?;
    let url = reqwest::Url::from_file_path(&path).map_err(|()| anyhow!("{arg}: not an absolute path"))?;
    Ok(Some((
        url.to_string(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )))
}

/// The API collection a command's id names: collection ids are `c` and 8
/// hex digits, item ids 8 hex digits.
fn kind(id: &str) -> &'static str {
    if id.len() == 9 && id.starts_with('c') {
        "collections"
    } else {
        "items"
    }
}

async fn action(data_dir: &Path, id: &str, action: &str) -> Result<()> {
    let api = Api::find(data_dir)?;
    let path = format!("{}/{id}/{action}", kind(id));
    if kind(id) == "collections" {
        let c: CollectionView = api.call(reqwest::Method::POST, &path, None).await?;
        println!("{} {} ({} items)", c.id, action_done(action), c.items.len());
        return Ok(());
    }
    let item: ItemView = api.call(reqwest::Method::POST, &path, None).await?;
    println!("{} {}", item.id, item.state.as_str());
    Ok(())
}

fn action_done(action: &str) -> &'static str {
    match action {
        "pin" => "pinned",
        "unpin" => "unpinned",
        "pause" => "paused",
        "resume" => "resumed",
        _ => "done",
    }
}

async fn ls(data_dir: &Path, json: bool) -> Result<()> {
    let api = Api::find(data_dir)?;
    let items: Vec<ItemView> = api.call(reqwest::Method::GET, "items", None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if items.is_empty() {
        println!("no items (add one with `spool add URL`)");
        return Ok(());
    }
    let collections: Vec<CollectionView> = api.call(reqwest::Method::GET, "collections", None).await?;
    println!(
        "{:<8}  {:<11}  {:>6}  {:>10}  {:<3}  NAME",
        "ID", "STATE", "DONE", "SIZE", "PIN"
    );
    // Items of no collection, then each collection under its heading, in its order.
    let by_id: std::collections::HashMap<&str, &ItemView> =
        items.iter().map(|i| (i.id.as_str(), i)).collect();
    for item in items.iter().filter(|i| i.collection.is_none()) {
        print_item(item);
    }
    for c in &collections {
        let members: Vec<&ItemView> = c
            .items
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect();
        let size: Option<u64> = members.iter().map(|i| i.size).sum();
        let downloaded: u64 = members.iter().map(|i| i.downloaded).sum();
        let done = match size {
            Some(0) => "100%".to_string(),
            Some(size) => format!("{}%", downloaded * 100 / size),
            None => "?".to_string(),
        };
        println!();
        println!(
            "{}  collection {:>6}  {} items  {}",
            c.id,
            done,
            members.len(),
            c.name
        );
        for item in members {
            print_item(item);
        }
    }
    Ok(())
}

fn print_item(item: &ItemView) {
    let done = match item.size {
        Some(0) => "100%".to_string(),
        Some(size) => format!("{}%", item.downloaded * 100 / size),
        None => "?".to_string(),
    };
    let size = item.size.map_or_else(|| "unknown".to_string(), format_size);
    let pin = if item.pinned { "yes" } else { "" };
    println!(
        "{:<8}  {:<11}  {:>6}  {:>10}  {:<3}  {}",
        item.id,
        item.state.as_str(),
        done,
        size,
        pin,
        item.name
    );
    if let Some(reason) = &item.error {
        println!("          {reason}");
    }
    println!("          {}", item.stream_url);
}

/// The running engine's control API, found through `DATA_DIR/engine.json`.
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    fn find(data_dir: &Path) -> Result<Api> {
        let not_running = || {
            anyhow!(
                "no spool engine is running for {}; start one with `spool serve` (or the desktop app)",
                data_dir.display()
            )
        };
        let info = read_engine_file(data_dir)
            .with_context(|| format!("cannot read {}", data_dir.join("engine.json").display()))?
            .ok_or_else(not_running)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot create the HTTP client")?;
        Ok(Api {
            base: format!("http://127.0.0.1:{}/api/", info.port),
            token: info.token,
            client,
        })
    }

    /// A GET whose answer is text (the M3U playlist).
    async fn text(&self, path: &str) -> Result<String> {
        let bytes = self.send(reqwest::Method::GET, path, None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let bytes = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).context("the engine's answer is not the expected JSON")
    }

    /// One request to the engine: the body of a success, the engine's own
    /// message of a failure.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!("no spool engine answers at {} (is it still running?)", self.base)
            } else {
                anyhow!("cannot reach the engine: {e}")
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("cannot read the engine's answer")?;
        if !status.is_success() {
            match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(error) => bail!("{}", error.message),
                Err(_) => bail!("the engine answered {status}"),
            }
        }
        Ok(bytes.to_vec())
    }
}
