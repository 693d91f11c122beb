//! A live dashboard: sales by region from a view (`views.sql`), as a bar chart and a table that
//! follow every sale on every screen, and exported as a vector PDF (natively) — the chart's bars
//! as paths, its words as text.
//!
//! Run it: `cargo xtask example dashboard` (a server with this example's view and route, then
//! the app); sales come from "Record a sale" or from the CLI:
//! `lucarne send sell '{"region": "eu", "cents": 1250}'`.

use lucarne::iced::widget::canvas::{self, Frame, Geometry, Text};
use lucarne::iced::widget::{button, column, row, text};
use lucarne::iced::{Element, Fill, Point, Rectangle, Renderer, Size, Subscription, Task, Theme, mouse};
use lucarne::protocol::Ack;
use lucarne::widgets::{Connection, connection_status};
use lucarne::{Client, CommandError, LiveView, Query, ViewEvent};
use serde_json::json;

/// A row of the `by_region` view.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Region {
    /// The region (the view's key).
    pub region: String,
    /// Sales recorded.
    #[serde(default)]
    pub sales: u64,
    /// Their total, in whole cents (a sum of integers: exact).
    #[serde(default)]
    pub cents: i64,
}

/// The regions "Record a sale" goes round.
pub const REGIONS: [&str; 4] = ["eu", "us", "mena", "apac"];

/// The app's state.
#[derive(Debug)]
pub struct App {
    client: Client,
    regions: LiveView<Region>,
    connection: Connection,
    recorded: u64,
    notice: Option<String>,
}

/// What happens in the app.
#[derive(Debug, Clone)]
pub enum Message {
    /// An event of the `by_region` subscription.
    Regions(ViewEvent),
    /// "Record a sale".
    Record,
    /// The server answered a sale.
    Recorded(Result<Ack, CommandError>),
    /// "Export PDF" (native).
    Export,
}

impl App {
    /// The dashboard over `client`.
    pub fn new(client: Client) -> Self {
        App {
            client,
            regions: LiveView::new(),
            connection: Connection::Connecting,
            recorded: 0,
            notice: None,
        }
    }

    /// The regions, as the server has them.
    pub fn regions(&self) -> &LiveView<Region> {
        &self.regions
    }

    /// What the last action said.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Applies a message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Regions(event) => {
                lucarne::ui::track(&mut self.connection, &event);
                self.regions.apply(&event);
            }
            Message::Record => {
                // Round the regions, with amounts that vary: 10.00 to 99.99.
                let n = self.recorded;
                self.recorded += 1;
                let region = REGIONS[usize::try_from(n % 4).unwrap_or(0)];
                let payload = json!({ "region": region, "cents": 1_000 + (n * 7_919) % 9_000 });
                let client = self.client.clone();
                return Task::perform(async move { client.send("sell", payload).await }, Message::Recorded);
            }
            Message::Recorded(Err(error)) => self.notice = Some(format!("Not recorded: {error}")),
            Message::Recorded(Ok(_)) => self.notice = None,
            Message::Export => self.notice = Some(self.export()),
        }
        Task::none()
    }

    /// The screen.
    pub fn view(&self) -> Element<'_, Message> {
        let regions: Vec<&Region> = self.regions.iter().map(|(_, r)| r).collect();
        let bars = regions.iter().map(|r| (r.region.clone(), r.cents)).collect();
        let table = regions.iter().map(|r| {
            let cells = [r.region.clone(), r.sales.to_string(), money(r.cents)];
            row(cells.into_iter().map(|c| text(c).width(Fill).into())).into()
        });
        let total: i64 = regions.iter().map(|r| r.cents).sum();
        let actions = row![button("Record a sale").on_press(Message::Record)].spacing(8);
        #[cfg(not(target_arch = "wasm32"))]
        let actions = actions.push(button("Export PDF").on_press(Message::Export));
        column![
            row![text("Sales by region").size(24).width(Fill), connection_status(&self.connection)],
            canvas::Canvas::new(Bars(bars)).width(Fill).height(220),
            row![text("Region").width(Fill), text("Sales").width(Fill), text("Total").width(Fill)],
            column(table).spacing(4),
            text(format!("All regions: {}", money(total))).size(18),
            actions,
        ]
        .push(self.notice.as_deref().map(text))
        .padding(16)
        .spacing(12)
        .into()
    }

    /// The live view the dashboard watches.
    pub fn subscription(&self) -> Subscription<Message> {
        lucarne::watch(&self.client, Query::view("by_region")).map(Message::Regions)
    }

    /// The screen as a one-page vector PDF.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn pdf(&self) -> Result<Vec<u8>, lucarne::pdf::PdfError> {
        let options = lucarne::pdf::PdfOptions { title: "Sales by region".into(), ..Default::default() };
        lucarne::pdf::export(self.view(), &options)
    }

    /// Writes `dashboard.pdf` and says so (natively; the browser build has no PDF export).
    fn export(&self) -> String {
        #[cfg(not(target_arch = "wasm32"))]
        return match self.pdf().map_err(|e| e.to_string()).and_then(|pdf| {
            std::fs::write("dashboard.pdf", &pdf).map(|()| pdf.len()).map_err(|e| e.to_string())
        }) {
            Ok(bytes) => format!("Wrote dashboard.pdf ({} KB)", bytes.div_ceil(1024)),
            Err(error) => format!("Could not export: {error}"),
        };
        #[cfg(target_arch = "wasm32")]
        "PDF export is not in the browser build".to_owned()
    }
}

/// Cents as an amount: `123456` → `1,234.56`.
pub fn money(cents: i64) -> String {
    let units = (cents / 100).abs().to_string();
    let grouped: Vec<&str> = {
        let first = units.len() % 3;
        let mut parts = vec![&units[..first]];
        parts.extend((first..units.len()).step_by(3).map(|i| &units[i..i + 3]));
        parts.into_iter().filter(|p| !p.is_empty()).collect()
    };
    format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, grouped.join(","), (cents % 100).abs())
}

/// The bar chart: one bar per region, its height the region's share of the largest total.
struct Bars(Vec<(String, i64)>);

impl<Message> canvas::Program<Message> for Bars {
    type State = ();

    fn draw(
        &self,
        (): &(),
        renderer: &Renderer,
        theme: &Theme,
        bounds: Rectangle,
        _: mouse::Cursor,
    ) -> Vec<Geometry> {
        let mut frame = Frame::new(renderer, bounds.size());
        let largest = self.0.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
        let slot = bounds.width / self.0.len().max(1) as f32;
        let plot = bounds.height - 20.0;
        for (i, (label, cents)) in self.0.iter().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "a share of the chart's height")]
            let height = plot * (*cents as f32 / largest as f32).max(0.0);
            let x = i as f32 * slot;
            let color = theme.extended_palette().primary.base.color;
            frame.fill_rectangle(
                Point::new(x + slot * 0.2, plot - height),
                Size::new(slot * 0.6, height),
                color,
            );
            let label = Text {
                content: label.clone(),
                position: Point::new(x + slot * 0.2, plot + 2.0),
                ..Text::default()
            };
            frame.fill_text(label);
        }
        vec![frame.into_geometry()]
    }
}
