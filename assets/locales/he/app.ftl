# אפליקציית הייחוס של Lucarne, בעברית. Hebrew: plural categories one, two, other.

locale-name = עברית
language = שפה

## Window and header

app-title = דלפק ההזמנות של Lucarne
window-title = דלפק ההזמנות של Lucarne · { $orders ->
        [one] הזמנה אחת
       *[other] { $orders } הזמנות
    }
window-title-pending = דלפק ההזמנות של Lucarne · { $orders ->
        [one] הזמנה אחת
       *[other] { $orders } הזמנות
    } · ממתינות: { $pending }
export-pdf = ייצוא PDF
export-orders = ייצוא הזמנות

## Filter box and notice

filter-placeholder = סינון: status = 'paid' order by total desc
apply = החלה
notify-me = הודיעו לי
search-placeholder = חיפוש לקוחות והזמנות
search-found = נמצאו: { $found }
search-clear = ניקוי
dismiss = סגירה

## The orders table

column-order = הזמנה
column-customer = לקוח
column-region = אזור
column-total = סה״כ
column-status = סטטוס
column-actions = פעולות
column-updated = עודכן
action-pay = תשלום
action-ship = משלוח
action-cancel = ביטול
status-placed = התקבלה
status-paid = שולמה
status-shipped = נשלחה
status-cancelled = בוטלה
status-pending = { $status } · בשליחה

## The connection badge

connection-connecting = מתחבר…
connection-live = מחובר
connection-resyncing = מסנכרן מחדש…
connection-offline = לא מחובר
connection-retrying = לא מחובר · מנסה שוב…
connection-retrying-in = לא מחובר · ניסיון נוסף בעוד { $seconds } שנ׳

## The summary

sales-by-region = מכירות לפי אזור
summary-region = אזור
summary-orders = הזמנות
summary-revenue = הכנסות

## The status line

status-line = הזמנות מוצגות: { $shown } · פקודות ממתינות: { $pending } · אושרו: { $sent }

## Notices

notice-saved = נשמר בשם { $path } ({ $pages ->
        [one] עמוד אחד
        [two] שני עמודים
       *[other] { $pages } עמודים
    }, { $ms } אלפיות שנייה)
notice-save-failed = לא ניתן לשמור את { $path }: { $error }
notice-export-failed = לא ניתן לייצא את { $screen ->
        [main] המסך הראשי
       *[orders] מסך ההזמנות
    }: { $error }
notice-exporting = מכין את קובץ ה־PDF…
notice-notify-on = תקבלו התראות על שינויים בהזמנות אלה כשהשולחן סגור
notice-notify-failed = לא ניתן להפעיל התראות: { $reason }
notice-query-refused = השרת דחה את השאילתה ({ $code }): { $message }
notice-command-failed = לא ניתן { $action ->
        [pay] לשלם על
        [ship] לשלוח את
       *[cancel] לבטל את
    } ההזמנה { $order }: { $reason }
reason-connection-stopped = החיבור נעצר
notice-command-done = ההזמנה { $order } { $action ->
        [pay] שולמה
        [ship] נשלחה
       *[cancel] בוטלה
    }

## PDF export

pdf-subject-main = המסך הראשי
pdf-subject-orders = הזמנות
pdf-footer = עמוד { $page } מתוך { $pages }
pdf-filter = סינון: { $filter }
pdf-printed = הודפס ב־{ $date }

## Push notifications (the server fills in the columns)

push-title = הזמנה { $order }: { $status }
push-body = { $customer } · { $total }
