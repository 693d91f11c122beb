//! Any text frame a peer may send: decoding never panics, and what decodes re-encodes to a
//! frame that decodes to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lucarne_protocol::{decode_client, decode_server, encode};

fuzz_target!(|text: &str| {
    if let Ok(message) = decode_client(text) {
        let again = decode_client(&encode(&message)).expect("an encoded client message decodes");
        assert_eq!(encode(&again), encode(&message), "encoding is stable");
    } else if let Err(error) = decode_client(text) {
        // Every refusal has a code to answer with.
        let _ = error.code();
    }
    if let Ok(message) = decode_server(text) {
        let again = decode_server(&encode(&message)).expect("an encoded server message decodes");
        assert_eq!(encode(&again), encode(&message), "encoding is stable");
    }
});
