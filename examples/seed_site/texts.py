"""The site's own interface strings in English, Hebrew and Arabic.

The banner, the preferences dialog and the privacy overview come from consentkit's
locales; these are only the site's navigation and the video placeholder. The articles
themselves stay in English (they carry ``lang="en"``).
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "RTL", "UI"]

LANGUAGES = ("en", "he", "ar")
RTL = frozenset({"he", "ar"})
NAMES = {"en": "English", "he": "עברית", "ar": "العربية"}

UI: dict[str, dict[str, str]] = {
    "en": {
        "site": "Alliance for Middle East Peace",
        "tagline": "Israeli and Palestinian civil society, building peace together",
        "home": "Home",
        "news": "News",
        "reports": "Reports",
        "programs": "Programs",
        "events": "Events",
        "about": "About",
        "read_more": "Read more",
        "in_section": "In this section",
        "cookie_settings": "Cookie settings",
        "privacy": "Privacy overview",
        "language": "Language",
        "skip": "Skip to content",
        "english_only": "",
        "video_title": "Video: the Paris convening",
        "video_caption": "350+ peacebuilders in Paris, 2025 (a local stand-in for a video embed)",
        "play": "Play",
        "latest": "Latest news",
        "not_found": "Page not found",
    },
    "he": {
        "site": "הברית לשלום במזרח התיכון",
        "tagline": "החברה האזרחית הישראלית והפלסטינית בונות שלום יחד",
        "home": "דף הבית",
        "news": "חדשות",
        "reports": "דוחות",
        "programs": "תוכניות",
        "events": "אירועים",
        "about": "אודות",
        "read_more": "להמשך קריאה",
        "in_section": "בפרק זה",
        "cookie_settings": "הגדרות עוגיות",
        "privacy": "סקירת פרטיות",
        "language": "שפה",
        "skip": "דילוג לתוכן",
        "english_only": "המאמרים באתר זה כתובים באנגלית.",
        "video_title": "וידאו: הכינוס בפריז",
        "video_caption": "יותר מ-350 בוני שלום בפריז, 2025",
        "play": "הפעלה",
        "latest": "חדשות אחרונות",
        "not_found": "הדף לא נמצא",
    },
    "ar": {
        "site": "التحالف من أجل السلام في الشرق الأوسط",
        "tagline": "المجتمع المدني الإسرائيلي والفلسطيني يبنيان السلام معًا",
        "home": "الرئيسية",
        "news": "الأخبار",
        "reports": "التقارير",
        "programs": "البرامج",
        "events": "الفعاليات",
        "about": "من نحن",
        "read_more": "اقرأ المزيد",
        "in_section": "في هذا القسم",
        "cookie_settings": "إعدادات ملفات تعريف الارتباط",
        "privacy": "نظرة عامة على الخصوصية",
        "language": "اللغة",
        "skip": "انتقل إلى المحتوى",
        "english_only": "المقالات على هذا الموقع باللغة الإنجليزية.",
        "video_title": "فيديو: لقاء باريس",
        "video_caption": "أكثر من 350 من بناة السلام في باريس، 2025",
        "play": "تشغيل",
        "latest": "آخر الأخبار",
        "not_found": "الصفحة غير موجودة",
    },
}

#: Category labels and descriptions in Hebrew and Arabic, as consentkit text overrides
#: (``category_<key>_label`` / ``category_<key>_description``); English is declared in code.
CATEGORY_TEXTS: dict[str, dict[str, str]] = {
    "he": {
        "category_necessary_label": "הכרחיות בהחלט",
        "category_necessary_description": (
            "נדרשות כדי שהאתר יפעל: בחירות העוגיות שלכם והשפה שבחרתם."
        ),
        "category_analytics_label": "ניתוח נתונים",
        "category_analytics_description": (
            "מזהות אתכם כשאתם חוזרים ועוזרות לצוות שלנו להבין אילו חלקים באתר מעניינים "
            "ושימושיים לכם ביותר. צד ראשון בלבד: דבר אינו משותף."
        ),
        "category_marketing_label": "שיווק",
        "category_marketing_description": (
            "סרטונים משובצים משירות וידאו, שעשוי לזהות אתכם באתרים שונים. כבוי עד שתאשרו."
        ),
    },
    "ar": {
        "category_necessary_label": "ضرورية للغاية",
        "category_necessary_description": (
            "لازمة لعمل الموقع: خياراتك بشأن ملفات تعريف الارتباط واللغة التي اخترتها."
        ),
        "category_analytics_label": "التحليلات",
        "category_analytics_description": (
            "تتعرف عليك عند عودتك وتساعد فريقنا على فهم أقسام الموقع التي تجدها الأكثر إثارة "
            "للاهتمام وفائدة. من الطرف الأول فقط: لا تتم مشاركة أي شيء."
        ),
        "category_marketing_label": "التسويق",
        "category_marketing_description": (
            "مقاطع فيديو مضمّنة من خدمة فيديو قد تتعرف عليك عبر المواقع. معطلة حتى تسمح بها."
        ),
    },
}
