//! Desktop notifications (freedesktop, over D-Bus, via notify-rust).
//! Never fatal: without a notification server the app carries on.

/// Shows a notification from a blocking thread (notify-rust talks D-Bus
/// synchronously); a failure is logged, nothing else.
pub fn show(summary: &str, body: &str) {
    let summary = summary.to_string();
    let body = body.to_string();
    std::thread::spawn(move || {
        let result = notify_rust::Notification::new()
            .appname("Spool")
            .summary(&summary)
            .body(&body)
            .icon("spool")
            .timeout(notify_rust::Timeout::Milliseconds(6000))
            .show();
        if let Err(e) = result {
            tracing::info!("notification not shown ({summary}): {e}");
        }
    });
}
