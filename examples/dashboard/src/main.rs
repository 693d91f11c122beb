//! The dashboard example's window (natively) or page (in a browser): see the library.

use example_dashboard::App;
use lucarne::{Client, ClientConfig};

fn main() -> lucarne::iced::Result {
    // `LUCARNE_SERVER` natively, the page's own host in a browser.
    let client = Client::connect(ClientConfig::default_servers());
    let boot = move || App::new(client.clone());
    lucarne::ui::with_fonts(lucarne::iced::application(boot, App::update, App::view))
        .subscription(App::subscription)
        .title("Sales by region")
        .window_size((640.0, 560.0))
        .run()
}
