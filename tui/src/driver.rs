//! The driver: the terminal (raw mode, the alternate screen, the mouse) and the runtime's
//! client, connected to the program of [`crate::app`]. Every frame is written between
//! synchronized-output marks (`CSI ? 2026 h` / `l`), so that a terminal or tmux shows it whole,
//! and ratatui writes only the cells that changed since the last one. Messages already waiting
//! (a burst of deltas) are all applied before the next frame is drawn.
//!
//! ```no_run
//! use lucarne_tui::driver::Session;
//!
//! // Frames written into memory, e.g. to count their bytes.
//! let mut session = Session::new(Vec::<u8>::new(), (200, 50)).expect("a session");
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures_util::{FutureExt, Stream, StreamExt};
use lucarne_runtime::{Client, ClientError, Subscription, ViewEvent};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use tokio::sync::mpsc;

use crate::app::{App, BadAction, Effect, Msg, Options};

/// Why the terminal client stopped.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// A chart's text was refused.
    #[error(transparent)]
    Chart(#[from] crate::app::BadChart),
    /// The terminal could not be read or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// A row action's text was refused.
    #[error(transparent)]
    Action(#[from] BadAction),
}

/// Frames written to a terminal (or any writer): ratatui's diff of the last frame against this
/// one, inside synchronized-output marks.
pub struct Session<W: Write> {
    terminal: Terminal<CrosstermBackend<W>>,
}

impl<W: Write> std::fmt::Debug for Session<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl<W: Write> Session<W> {
    /// Frames of `size` (columns, lines) written to `out`.
    pub fn new(out: W, size: (u16, u16)) -> std::io::Result<Session<W>> {
        let area = Rect::new(0, 0, size.0, size.1);
        let terminal = Terminal::with_options(
            CrosstermBackend::new(out),
            TerminalOptions { viewport: Viewport::Fixed(area) },
        )?;
        Ok(Session { terminal })
    }

    /// Draws the state: only what changed since the last frame is written.
    pub fn frame(&mut self, app: &App) -> std::io::Result<()> {
        crossterm::queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.draw(|frame| crate::view::view(app, frame))?;
        crossterm::execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        Ok(())
    }

    /// Forgets what the terminal shows, so that the next frame is written whole (after a resize,
    /// or to measure a full redraw).
    pub fn redraw_all(&mut self, size: (u16, u16)) -> std::io::Result<()> {
        // A resize clears the screen and forgets the last frame, without asking the terminal
        // where its cursor is (`clear` would, through the input the event stream reads).
        self.terminal.resize(Rect::new(0, 0, size.0, size.1))
    }
}

/// Runs the client on this process's terminal until the person quits.
pub async fn run(client: Client, mut options: Options) -> Result<(), TuiError> {
    if options.client_id.is_empty() {
        options.client_id = client.client_id().to_owned();
    }
    let _screen = Screen::enter()?;
    let size = crossterm::terminal::size()?;
    let mut session = Session::new(std::io::stdout(), size)?;
    let input = EventStream::new().filter_map(|event| {
        std::future::ready(match event {
            Ok(Event::Key(key)) => Some(Msg::Key(key)),
            Ok(Event::Mouse(mouse)) => Some(Msg::Mouse(mouse)),
            Ok(Event::Resize(width, height)) => Some(Msg::Resize(width, height)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("terminal input: {e}");
                None
            }
        })
    });
    drive(&client, App::new(options, size), &mut session, Box::pin(input)).await
}

/// Runs `app` against `client`, its input from `input`, its frames into `session`, until it
/// quits or the input ends.
pub async fn drive<W: Write>(
    client: &Client,
    mut app: App,
    session: &mut Session<W>,
    mut input: impl Stream<Item = Msg> + Unpin,
) -> Result<(), TuiError> {
    let (answers, mut answered) = mpsc::unbounded_channel();
    let mut subscription: Option<Subscription> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut effects = app.start();
    loop {
        // Apply what waits (a burst of deltas) before drawing once.
        for _ in 0..4096 {
            for effect in std::mem::take(&mut effects) {
                if !perform(effect, client, &mut app, &mut subscription, &answers) {
                    return Ok(());
                }
            }
            let Some(event) = subscription.as_mut().and_then(|s| s.next().now_or_never()).flatten() else {
                break;
            };
            effects = app.update(Msg::View(event));
        }
        session.frame(&app)?;
        let msg = tokio::select! {
            msg = input.next() => match msg {
                Some(msg) => msg,
                None => return Ok(()),
            },
            Some(event) = next_event(&mut subscription) => Msg::View(event),
            Some(msg) = answered.recv() => msg,
            _ = tick.tick(), if app.ticking() => Msg::Tick(Instant::now()),
        };
        if let Msg::Resize(width, height) = msg {
            session.redraw_all((width, height))?;
        }
        effects = app.update(msg);
    }
}

/// The next event of the subscription, if there is one (else never).
async fn next_event(subscription: &mut Option<Subscription>) -> Option<ViewEvent> {
    match subscription {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Performs one effect; false to quit.
fn perform(
    effect: Effect,
    client: &Client,
    app: &mut App,
    subscription: &mut Option<Subscription>,
    answers: &mpsc::UnboundedSender<Msg>,
) -> bool {
    match effect {
        Effect::Quit => return false,
        Effect::Subscribe(query) => {
            tracing::debug!(?query, "subscribe");
            *subscription = Some(client.subscribe(query));
        }
        Effect::Unsubscribe => *subscription = None,
        Effect::WatchChart(query) => {
            // The chart's events come as messages, from a task that holds its subscription.
            let mut chart = client.subscribe(query);
            let answers = answers.clone();
            tokio::spawn(async move {
                while let Some(event) = chart.next().await {
                    if answers.send(Msg::Chart(event)).is_err() {
                        break;
                    }
                }
            });
        }
        Effect::ListViews => {
            let (client, answers) = (client.clone(), answers.clone());
            tokio::spawn(async move {
                // The list needs a live connection: ask again while the client connects.
                let views = loop {
                    match client.list_views().await {
                        Err(ClientError::Offline(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
                        other => break other.map_err(|e| e.to_string()),
                    }
                };
                let _ = answers.send(Msg::Views(views));
            });
        }
        Effect::Act(change) => {
            let command = app.begin(client.next_seq(), change);
            let (client, answers) = (client.clone(), answers.clone());
            tokio::spawn(async move {
                let _ = answers.send(Msg::Delivered(command.deliver(client).await));
            });
        }
        Effect::Send { id, name, payload } => {
            let (client, answers) = (client.clone(), answers.clone());
            tokio::spawn(async move {
                let answer = client.send(&name, payload).await;
                let _ = answers.send(Msg::Answered { id, answer });
            });
        }
    }
    true
}

/// The terminal in the client's modes while it runs; put back as it was when dropped (also when
/// the client panics).
struct Screen;

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        crossterm::terminal::enable_raw_mode()?;
        let mut out = std::io::stdout();
        crossterm::execute!(
            out,
            crossterm::terminal::EnterAlternateScreen,
            crossterm::event::EnableMouseCapture,
            crossterm::cursor::Hide
        )?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            Screen::leave();
            previous(info);
        }));
        Ok(Screen)
    }

    fn leave() {
        let mut out = std::io::stdout();
        let _ = crossterm::execute!(
            out,
            crossterm::cursor::Show,
            crossterm::event::DisableMouseCapture,
            crossterm::terminal::LeaveAlternateScreen
        );
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        Screen::leave();
    }
}
