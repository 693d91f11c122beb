//! The todo example's window (natively) or page (in a browser): see the library.

use example_todo::App;
use lucarne::{Client, ClientConfig};

fn main() -> lucarne::iced::Result {
    // `LUCARNE_SERVER` natively, the page's own host in a browser; edits not yet answered are
    // kept for the next start (natively in the user's state directory, in a browser by the tab).
    let client = Client::connect(ClientConfig::default_servers().keep_outbox("todo"));
    let boot = move || App::new(client.clone());
    lucarne::ui::with_fonts(lucarne::iced::application(boot, App::update, App::view))
        .subscription(App::subscription)
        .title("Todos")
        .window_size((480.0, 600.0))
        .run()
}
