# ruff: noqa: RUF001  (typographic quotes and apostrophes are the article's own)
"""The demo site's pages, written from the seed article (the 2025 annual report of ALLMEP).

Every fact on these pages comes from that article; the site only arranges it into the
sections a real organisation's site has, so that "popular sections" means something.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARTICLE", "PAGES", "SECTIONS", "Page", "Section", "find_page"]


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    summary: str
    body: tuple[str, ...]
    video: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    path: str
    intro: str
    pages: tuple[Page, ...]


ARTICLE = Page(
    slug="",
    title=(
        "2025 Annual Report: Major Diplomatic Breakthroughs and Record Growth for ALLMEP "
        "and Israeli-Palestinian Peacebuilding"
    ),
    summary=(
        "As violence and political instability continued to dominate the Middle East in 2025, "
        "ALLMEP's 2025 annual report demonstrated record growth and major breakthroughs."
    ),
    body=(
        "January 2026 — As violence and political instability continued to dominate the Middle "
        "East in 2025, ALLMEP’s 2025 annual report demonstrated record growth and major "
        "breakthroughs as Israeli and Palestinian civil society peacebuilders expanded their "
        "influence, secured unprecedented international recognition, and helped shape global "
        "diplomatic efforts.",
        "Despite what ALLMEP Executive Director John Lyndon described as “extraordinarily "
        "difficult times,” ALLMEP reported record growth across its network. “Not despite the "
        "war and trauma but because of it,” Lyndon said, more new member organizations joined "
        "ALLMEP in 2025 than in any previous year. The alliance now includes more than 180 "
        "Israeli and Palestinian organizations working across dialogue, policy, education, "
        "economic cooperation, and trauma recovery.",
        "## Civil Society Enters the Diplomatic Mainstream",
        "The past year was a turning point for the role of civil society in international "
        "diplomacy. After years of coordinated advocacy and coalition-building, peacebuilding "
        "organizations moved from the margins to the center of diplomatic engagement, with "
        "governments increasingly recognizing their role in shaping conditions for long-term "
        "peace.",
        "Throughout the year, ALLMEP convened thousands of Israeli and Palestinian civil society "
        "leaders at major international gatherings, including large-scale meetings in "
        "Jerusalem, Brussels, New York, and the UK, and a high-profile summit in Paris hosted "
        "at the invitation of French President Emmanuel Macron, where 350+ Palestinian and "
        "Israeli peacebuilders flew to Paris to produce policy recommendations and meet Macron "
        "at the Élysée.",
        "“These weren’t photo ops,” Lyndon emphasized. “They were breakthrough interventions "
        "influencing the public conversation and policy.”",
        "## Record Government Commitments",
        "The European Union announced a €18 million investment in civil society peacebuilding "
        "initiatives, one of the largest such commitments to date. In the United Kingdom, the "
        "Foreign Secretary committed to host the inaugural meeting of an International Fund for "
        "Israeli-Palestinian Peace in March 2026—a concept ALLMEP has pursued since 2009.",
        "## Defending and Strengthening the Field",
        "Cuts to U.S. foreign assistance and proposed legislation threatening civic space placed "
        "many peacebuilding organizations at risk. ALLMEP responded by providing daily support "
        "to members, including legal resources, media assistance, and emergency connections to "
        "philanthropic funders. ALLMEP’s research capacity tripled in 2025, driven by the "
        "expansion of its AI Pulse initiative.",
        "## Looking Ahead to 2026",
        "“This is a fragile but pivotal moment,” Lyndon writes. “We have worked over the past "
        "two decades to ensure that global leaders recognize civil society’s centrality to any "
        "lasting peace—and we now have a real opportunity to turn that recognition into durable "
        "institutional support and meaningful progress.”",
    ),
    video=True,
)

SECTIONS: tuple[Section, ...] = (
    Section(
        key="news",
        path="/news",
        intro="News from the alliance and its members.",
        pages=(
            Page(
                "record-growth",
                "Record growth across the network",
                "More new member organizations joined ALLMEP in 2025 than in any previous year.",
                (
                    "More new member organizations joined ALLMEP in 2025 than in any previous "
                    "year. “Not despite the war and trauma but because of it,” said Executive "
                    "Director John Lyndon.",
                    "The alliance now includes more than 180 Israeli and Palestinian "
                    "organizations working across dialogue, policy, education, economic "
                    "cooperation, and trauma recovery.",
                ),
            ),
            Page(
                "new-york-declaration",
                "Peacebuilders’ proposals in the New York Declaration",
                "Recommendations developed in Paris were incorporated into a declaration "
                "adopted by 142 countries.",
                (
                    "At the Paris convening, peacebuilders developed policy recommendations and "
                    "project proposals that were later incorporated into the New York "
                    "Declaration, adopted by 142 countries at the United Nations.",
                    "Shortly thereafter, the Trump Peace Plan explicitly highlighted civil "
                    "society’s role in promoting “tolerance, coexistence, and changed narratives "
                    "and mindsets.”",
                ),
            ),
            Page(
                "eu-investment",
                "European Union announces €18 million for civil society peacebuilding",
                "One of the largest such commitments to date.",
                (
                    "The European Union announced a €18 million investment in civil society "
                    "peacebuilding initiatives, one of the largest such commitments to date.",
                    "The commitment builds on the G7 communique of 2024.",
                ),
            ),
            Page(
                "international-fund",
                "UK to host the first meeting of an International Fund",
                "A concept ALLMEP has pursued since 2009.",
                (
                    "In the United Kingdom, the Foreign Secretary advanced a long-standing "
                    "ALLMEP initiative by committing to host the inaugural meeting of an "
                    "International Fund for Israeli-Palestinian Peace in March 2026.",
                    "These developments represent further steps toward permanent, "
                    "government-backed infrastructure to support peacebuilding at scale.",
                ),
            ),
        ),
    ),
    Section(
        key="reports",
        path="/reports",
        intro="Annual reports and research from the alliance.",
        pages=(
            Page(
                "annual-report-2025",
                "Annual Report 2025",
                "Major diplomatic breakthroughs and record growth.",
                (
                    "The 2025 annual report opens with a letter from Executive Director John "
                    "Lyndon and covers ALLMEP’s breakthroughs in advocacy and on-the-ground "
                    "impact.",
                    "“Too often, the most extreme voices and ideas dominated public discourse,” "
                    "Lyndon said. “But our community of peacebuilders—and supporters like "
                    "you—refused to be sidelined.”",
                ),
            ),
            Page(
                "ai-pulse",
                "AI Pulse: polling and deliberative AI dialogues",
                "Research capacity tripled in 2025.",
                (
                    "ALLMEP’s research capacity tripled in 2025, driven by the expansion of the "
                    "AI Pulse initiative. The program combines public opinion polling with "
                    "deliberative AI dialogues to identify areas of consensus and opportunity "
                    "across Israeli, Palestinian, and international publics.",
                    "Findings from these studies attracted attention from major media outlets "
                    "and policymakers, including senior government officials.",
                ),
            ),
            Page(
                "civic-space",
                "Defending the field",
                "How the alliance supported members through record challenges.",
                (
                    "Cuts to U.S. foreign assistance and proposed legislation threatening civic "
                    "space placed many peacebuilding organizations at risk.",
                    "ALLMEP responded by providing daily support to members, including legal "
                    "resources, media assistance, and emergency connections to philanthropic "
                    "funders.",
                ),
            ),
        ),
    ),
    Section(
        key="programs",
        path="/programs",
        intro=(
            "More than 180 Israeli and Palestinian member organizations work across five fields."
        ),
        pages=(
            Page(
                "dialogue",
                "Dialogue",
                "Bringing Israeli and Palestinian civil society leaders together.",
                (
                    "ALLMEP convened thousands of Israeli and Palestinian civil society leaders "
                    "at major international gatherings in 2025.",
                    "Sector-based affinity groups coordinate expertise across the network.",
                ),
            ),
            Page(
                "policy",
                "Policy",
                "From the margins to the center of diplomatic engagement.",
                (
                    "Peacebuilders produced policy recommendations and project proposals that "
                    "were incorporated into the New York Declaration.",
                    "ALLMEP will continue to advocate for civil society’s inclusion at the "
                    "negotiating table.",
                ),
            ),
            Page(
                "education",
                "Education",
                "Leadership development and training.",
                (
                    "The regional team invested in leadership development through its "
                    "Women’s Leadership Network.",
                    "This local capacity building resulted in a larger, stronger network.",
                ),
            ),
            Page(
                "economic-cooperation",
                "Economic cooperation",
                "Government-backed infrastructure for peacebuilding at scale.",
                (
                    "The International Fund for Israeli-Palestinian Peace, a concept ALLMEP has "
                    "pursued since 2009, is to hold its inaugural meeting in March 2026.",
                    "The European Union announced a €18 million investment in civil society "
                    "peacebuilding initiatives.",
                ),
            ),
            Page(
                "trauma-recovery",
                "Trauma recovery",
                "Training for organizations working with traumatized communities.",
                (
                    "The regional team expanded training for organizations working with "
                    "traumatized communities during wartime.",
                    "Shared work and communal engagement reached all-time highs.",
                ),
            ),
        ),
    ),
    Section(
        key="events",
        path="/events",
        intro="Major international gatherings of the network in 2025.",
        pages=(
            Page(
                "jerusalem",
                "Jerusalem",
                "A large-scale meeting of Israeli and Palestinian civil society leaders.",
                (
                    "One of the large-scale meetings at which ALLMEP convened Israeli and "
                    "Palestinian civil society leaders in 2025.",
                ),
            ),
            Page(
                "brussels",
                "Brussels",
                "Peacebuilders meet European institutions.",
                (
                    "One of the large-scale meetings of 2025, in the year the European Union "
                    "announced a €18 million investment in civil society peacebuilding.",
                ),
            ),
            Page(
                "new-york",
                "New York",
                "Civil society at the United Nations.",
                (
                    "The New York Declaration, adopted by 142 countries at the United Nations, "
                    "incorporated the peacebuilders’ recommendations and proposals.",
                ),
            ),
            Page(
                "paris",
                "Paris",
                "350+ peacebuilders at the invitation of President Macron.",
                (
                    "A high-profile summit in Paris hosted at the invitation of French "
                    "President Emmanuel Macron, where 350+ Palestinian and Israeli "
                    "peacebuilders flew to Paris to produce policy recommendations and meet "
                    "Macron at the Élysée.",
                    "“These weren’t photo ops,” Lyndon emphasized. “They were breakthrough "
                    "interventions influencing the public conversation and policy.”",
                ),
                video=True,
            ),
        ),
    ),
    Section(
        key="about",
        path="/about",
        intro="The Alliance for Middle East Peace.",
        pages=(
            Page(
                "mission",
                "Our mission",
                "Civil society’s centrality to any lasting peace.",
                (
                    "“We have worked over the past two decades to ensure that global leaders "
                    "recognize civil society’s centrality to any lasting peace,” writes "
                    "Executive Director John Lyndon.",
                ),
            ),
            Page(
                "members",
                "Our members",
                "More than 180 Israeli and Palestinian organizations.",
                (
                    "Member organizations work across dialogue, policy, education, economic "
                    "cooperation, and trauma recovery.",
                ),
            ),
            Page(
                "supporters",
                "Our supporters",
                "Sustaining the movement through an especially challenging year.",
                (
                    "ALLMEP credits its supporters for sustaining the movement through an "
                    "especially challenging year, and looks forward to building on 2025’s "
                    "momentum.",
                ),
            ),
        ),
    ),
)


def find_page(section_key: str, slug: str) -> tuple[Section, Page] | None:
    """The section and page at ``/{section_key}/{slug}``, if there is one."""
    for section in SECTIONS:
        if section.key == section_key:
            for page in section.pages:
                if page.slug == slug:
                    return section, page
    return None


#: Every page path of the site, for the traffic simulation and the tests.
PAGES: tuple[str, ...] = (
    "/",
    *(s.path for s in SECTIONS),
    *(f"{s.path}/{p.slug}" for s in SECTIONS for p in s.pages),
)
