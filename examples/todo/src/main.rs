//! The todo example's window (natively) or page (in a browser): see the library.

use example_todo::App;
use lucarne::{Client, ClientConfig};

fn main() -> lucarne::iced::Result {
    // `LUCARNE_SERVER` natively, the page's own host in a browser; edits not yet answered are
    // kept in a file (natively; a tab keeps them in its storage) for the next start.
    let client = Client::connect(ClientConfig::default_servers().outbox_file("lucarne-todo.outbox"));
    let boot = move || App::new(client.clone());
    lucarne::ui::with_fonts(lucarne::iced::application(boot, App::update, App::view))
        .subscription(App::subscription)
        .title("Todos")
        .window_size((480.0, 600.0))
        .run()
}
