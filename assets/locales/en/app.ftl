# The Lucarne reference app (app/src/desk.rs, app/src/export.rs), in English.
# Every message and its arguments are listed in app/src/i18n.rs (MESSAGES); a unit test checks
# that en, ar and he define the same messages with the same arguments.

locale-name = English
language = Language

## Window and header

app-title = Lucarne order desk
window-title = Lucarne order desk · { $orders ->
        [one] { $orders } order
       *[other] { $orders } orders
    }
window-title-pending = Lucarne order desk · { $orders ->
        [one] { $orders } order
       *[other] { $orders } orders
    } · { $pending } pending
export-pdf = Export PDF
export-orders = Export orders

## Filter box and notice

filter-placeholder = filter: status = 'paid' order by total desc
apply = Apply
notify-me = Notify me
search-placeholder = search customers and orders
search-found = { $found } found
search-clear = Clear
dismiss = Dismiss

## The orders table

column-order = Order
column-customer = Customer
column-region = Region
column-total = Total
column-status = Status
column-actions = Actions
column-updated = Updated
action-pay = Pay
action-ship = Ship
action-cancel = Cancel
status-placed = placed
status-paid = paid
status-shipped = shipped
status-cancelled = cancelled
# An order whose command is on its way: the status it will have, and that it is not confirmed.
status-pending = { $status } · sending

## The connection badge

connection-connecting = Connecting…
connection-live = Live
connection-resyncing = Resyncing…
connection-offline = Offline
connection-retrying = Offline · retrying…
connection-retrying-in = Offline · retrying in { $seconds } s

## The summary

sales-by-region = Sales by region
summary-region = Region
summary-orders = Orders
summary-revenue = Revenue

## The status line

status-line = { $shown ->
        [one] { $shown } order shown
       *[other] { $shown } orders shown
    } · { $pending ->
        [one] { $pending } command pending
       *[other] { $pending } commands pending
    } · { $sent } confirmed

## Notices

notice-saved = Saved { $path } ({ $pages ->
        [one] { $pages } page
       *[other] { $pages } pages
    }, { $ms } ms)
notice-save-failed = Could not save { $path }: { $error }
# $screen is `main` or `orders`.
notice-export-failed = Could not export the { $screen ->
        [main] main
       *[orders] orders
    } screen: { $error }
notice-exporting = Preparing the PDF…
notice-notify-on = You will be notified of changes to these orders while the desk is closed
notice-notify-failed = Notifications could not be turned on: { $reason }
notice-query-refused = The server refused the query ({ $code }): { $message }
# $action is `pay`, `ship` or `cancel`.
notice-command-failed = Could not { $action ->
        [pay] pay
        [ship] ship
       *[cancel] cancel
    } { $order }: { $reason }
reason-connection-stopped = the connection stopped
# The server confirmed an action: $action is `pay`, `ship` or `cancel`.
notice-command-done = { $order } { $action ->
        [pay] paid
        [ship] shipped
       *[cancel] cancelled
    }

## PDF export

pdf-subject-main = Main screen
pdf-subject-orders = Orders
pdf-footer = Page { $page } of { $pages }
pdf-filter = Filter: { $filter }
pdf-printed = Printed { $date }

## Push notifications (the server fills in the columns)

push-title = Order { $order }: { $status }
push-body = { $customer } · { $total }
