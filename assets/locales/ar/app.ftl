# تطبيق Lucarne المرجعي، بالعربية. Arabic: plural categories zero, one, two, few, many, other.

locale-name = العربية
language = اللغة

## Window and header

app-title = مكتب طلبات لوكارن
window-title = مكتب طلبات لوكارن · { $orders ->
        [zero] لا طلبات
        [one] طلب واحد
        [two] طلبان
        [few] { $orders } طلبات
        [many] { $orders } طلبًا
       *[other] { $orders } طلب
    }
window-title-pending = مكتب طلبات لوكارن · { $orders ->
        [zero] لا طلبات
        [one] طلب واحد
        [two] طلبان
        [few] { $orders } طلبات
        [many] { $orders } طلبًا
       *[other] { $orders } طلب
    } · قيد الانتظار: { $pending }
export-pdf = تصدير PDF
export-orders = تصدير الطلبات

## Filter box and notice

filter-placeholder = تصفية: status = 'paid' order by total desc
apply = تطبيق
notify-me = نبّهني
search-placeholder = ابحث في الزبائن والطلبات
search-found = النتائج: { $found }
search-clear = مسح
dismiss = إغلاق

## The orders table

column-order = الطلب
column-customer = العميل
column-region = المنطقة
column-total = الإجمالي
column-status = الحالة
column-actions = الإجراءات
column-updated = آخر تحديث
action-pay = دفع
action-ship = شحن
action-cancel = إلغاء
status-placed = مقدم
status-paid = مدفوع
status-shipped = مشحون
status-cancelled = ملغى
status-pending = { $status } · قيد الإرسال

## The connection badge

connection-connecting = جارٍ الاتصال…
connection-live = متصل
connection-resyncing = جارٍ إعادة المزامنة…
connection-offline = غير متصل
connection-retrying = غير متصل · جارٍ إعادة المحاولة…
connection-retrying-in = غير متصل · إعادة المحاولة خلال { $seconds } ث

## The summary

sales-by-region = المبيعات حسب المنطقة
summary-region = المنطقة
summary-orders = الطلبات
summary-revenue = الإيرادات

## The status line

status-line = الطلبات المعروضة: { $shown } · الأوامر المعلّقة: { $pending } · المؤكَّدة: { $sent }

## Notices

notice-saved = تم الحفظ في { $path } ({ $pages ->
        [one] صفحة واحدة
        [two] صفحتان
        [few] { $pages } صفحات
       *[other] { $pages } صفحة
    }، { $ms } مللي ثانية)
notice-save-failed = تعذّر حفظ { $path }: { $error }
notice-export-failed = تعذّر تصدير { $screen ->
        [main] الشاشة الرئيسية
       *[orders] شاشة الطلبات
    }: { $error }
notice-exporting = جارٍ إعداد ملف PDF…
notice-notify-on = ستصلك تنبيهات بتغييرات هذه الطلبات حين يكون المكتب مغلقًا
notice-notify-failed = تعذّر تفعيل التنبيهات: { $reason }
notice-query-refused = رفض الخادم الاستعلام ({ $code }): { $message }
notice-command-failed = تعذّر { $action ->
        [pay] دفع
        [ship] شحن
       *[cancel] إلغاء
    } الطلب { $order }: { $reason }
reason-connection-stopped = توقّف الاتصال
notice-command-done = الطلب { $order } { $action ->
        [pay] مدفوع
        [ship] مشحون
       *[cancel] ملغى
    }

## PDF export

pdf-subject-main = الشاشة الرئيسية
pdf-subject-orders = الطلبات
pdf-footer = الصفحة { $page } من { $pages }
pdf-filter = التصفية: { $filter }
pdf-printed = طُبع في { $date }

## Push notifications (the server fills in the columns)

push-title = الطلب { $order }: { $status }
push-body = { $customer } · { $total }
