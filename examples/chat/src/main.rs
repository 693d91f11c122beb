//! The chat example's window (natively) or page (in a browser): see the library.

use example_chat::App;
use lucarne::{Client, ClientConfig};

fn main() -> lucarne::iced::Result {
    // `LUCARNE_SERVER` natively, the page's own host in a browser.
    let client = Client::connect(ClientConfig::default_servers());
    let author =
        ["LUCARNE_CHAT_NAME", "USER"].iter().find_map(|v| std::env::var(v).ok()).unwrap_or("guest".into());
    let boot = move || App::new(client.clone(), author.clone());
    lucarne::ui::with_fonts(lucarne::iced::application(boot, App::update, App::view))
        .subscription(App::subscription)
        .title("Room")
        .window_size((520.0, 640.0))
        .run()
}
