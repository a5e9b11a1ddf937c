"""An independent implementation of queries/agent_activity.sql's rules, in plain Python over
the raw events and CTRs, for tests/test_agent_events.py's cross-check. It follows the rules as
the SQL's header states them, not the SQL: per agent, every instant between breakpoints is
classified by scanning the spans that cover it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

MISSED = {"MISSED", "REJECTED", "ERROR"}
CONNECTED = {"CONNECTED", "CONNECTED_ONHOLD", "PAUSED"}
CONNECTING = {"CONNECTING", "INCOMING", "PENDING"}


def ms(text: str | None) -> int | None:
    if text is None:
        return None
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def status_type(status: dict) -> str:
    if status.get("Type"):
        return status["Type"]
    return {"Available": "ROUTABLE", "Offline": "OFFLINE"}.get(status.get("Name"), "CUSTOM")


def local_days(tz: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, int, int]]:
    zone = ZoneInfo(tz)
    days = []
    day = first
    while day <= last:
        start = dt.datetime.combine(day, dt.time(), zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
        days.append((day, int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
        day += dt.timedelta(days=1)
    return days


def spans_from_starts(starts: dict, final_end: int) -> list[tuple[int, int, object]]:
    ordered = sorted(starts)
    out = []
    for i, start in enumerate(ordered):
        end = ordered[i + 1] if i + 1 < len(ordered) else max(final_end, start)
        out.append((start, end, starts[start]))
    return out


def union_length(intervals: list[tuple[int, int]]) -> int:
    total, reached = 0, None
    for start, end in sorted(intervals):
        if reached is None or start > reached:
            total += end - start
            reached = end
        elif end > reached:
            total += end - reached
            reached = end
    return total


def activity_report(events: list[dict], ctrs: list[dict], tz: str, first: dt.date,
                    last: dt.date) -> list[dict]:
    unique = {}
    for event in events:
        unique.setdefault(event["EventId"], event)
    by_agent = defaultdict(list)
    for event in unique.values():
        by_agent[event["AgentARN"]].append(event)
    days = local_days(tz, first, last)
    waits = [(c["Queue"]["ARN"], c["Channel"], ms(c["Queue"]["EnqueueTimestamp"]),
              ms(c["Queue"]["DequeueTimestamp"]))
             for c in {c["ContactId"]: c for c in ctrs}.values()
             if (c.get("Queue") or {}).get("DequeueTimestamp")]
    rows = []
    for arn, agent_events in by_agent.items():
        agent_events.sort(key=lambda e: (ms(e["EventTimestamp"]), e["EventId"]))
        times = [ms(e["EventTimestamp"]) for e in agent_events]
        username = agent_events[-1]["CurrentAgentSnapshot"]["Configuration"]["Username"]
        statuses, states = {}, {}   # start -> (seen, value), (contact, start) -> (seen, state)
        appearances = defaultdict(int)
        left = {}
        for event, at in zip(agent_events, times):
            # The current snapshot last: within one event it has the last word.
            snapshots = [event["CurrentAgentSnapshot"]]
            if event["EventType"] != "HEART_BEAT" and event.get("PreviousAgentSnapshot"):
                snapshots.insert(0, event["PreviousAgentSnapshot"])
            for snapshot in snapshots:
                status = snapshot["AgentStatus"]
                start = ms(status["StartTimestamp"])
                if start not in statuses or statuses[start][0] <= at:
                    statuses[start] = (at, status_type(status))
                for contact in snapshot.get("Contacts") or []:
                    key = (contact["ContactId"], ms(contact["StateStartTimestamp"]))
                    if key not in states or states[key][0] <= at:
                        states[key] = (at, contact["State"])
            current = {c["ContactId"] for c in event["CurrentAgentSnapshot"].get("Contacts") or []}
            for contact_id in current:
                appearances[contact_id] = max(appearances[contact_id], at)
            if event["EventType"] != "HEART_BEAT" and event.get("PreviousAgentSnapshot"):
                for contact in event["PreviousAgentSnapshot"].get("Contacts") or []:
                    if contact["ContactId"] not in current:
                        left[contact["ContactId"]] = min(left.get(contact["ContactId"], at), at)
        status_spans = spans_from_starts({s: v[1] for s, v in statuses.items()}, max(times))
        contact_spans = []
        for contact_id in {c for c, _ in states}:
            if contact_id in left:
                end = left[contact_id]
            else:
                later = [t for t in times if t > appearances[contact_id]]
                end = later[0] if later else appearances[contact_id]
            starts = {s: states[(c, s)][1] for c, s in states if c == contact_id}
            contact_spans.extend((s, e, (contact_id, state))
                                 for s, e, state in spans_from_starts(starts, end))
        cuts = {t for s, e, _ in status_spans + contact_spans for t in (s, e)}
        cuts |= {t for _, s, e in days for t in (s, e)} | set(times)
        cuts = sorted(cuts)
        per_day = defaultdict(lambda: defaultdict(int))
        idle = []
        for a, b in zip(cuts, cuts[1:]):
            kind = next((k for s, e, k in status_spans if s <= a < e), None)
            if kind in (None, "OFFLINE"):
                continue
            live = [state for s, e, (_, state) in contact_spans if s <= a < e]
            if any(s in MISSED for s in live):
                activity = "missed_state"
            elif any(s in CONNECTED for s in live):
                activity = "on_contact"
            elif "ENDED" in live:
                activity = "after_contact_work"
            elif any(s in CONNECTING for s in live):
                activity = "connecting"
            elif kind == "CUSTOM" and not live:
                activity = "non_productive"
            elif not live:
                activity = "available_idle"
            else:
                activity = "on_contact"
            day = next((d for d, s, e in days if s <= a < e), None)
            if day is None:
                continue
            per_day[day][activity] += b - a
            if activity == "available_idle":
                idle.append((day, a, b))
        phantom = defaultdict(int)
        for day, a, b in idle:
            # The configuration of the latest event that can change it: not a heartbeat,
            # unless at the agent's first event time.
            config_event = [e for e, t in zip(agent_events, times)
                            if t <= a and (t == times[0] or e["EventType"] != "HEART_BEAT")][-1]
            profile = config_event["CurrentAgentSnapshot"]["Configuration"]["RoutingProfile"]
            slots = profile.get("Concurrency")
            channels = None if slots is None else {s["Channel"] for s in slots
                                                     if (s.get("MaximumSlots") or 0) > 0}
            eligible = {(q["ARN"], c) for q in profile.get("InboundQueues") or []
                        for c in q.get("Channels") or [] if channels is None or c in channels}
            phantom[day] += union_length([(max(a, ws), min(b, we)) for q, c, ws, we in waits
                                          if (q, c) in eligible and ws < b and we > a])
        connected = defaultdict(set)
        offers = defaultdict(int)
        for (contact_id, start), (_, state) in states.items():
            day = next((d for d, s, e in days if s <= start < e), None)
            if day is None:
                continue
            if state == "CONNECTED":
                connected[day].add(contact_id)
            if state in ("MISSED", "REJECTED"):
                offers[day] += 1
        for day, spent in per_day.items():
            busy = spent["on_contact"] + spent["after_contact_work"]
            denominator = busy + spent["available_idle"]
            occupancy = (Decimal(100 * busy) / Decimal(denominator)).quantize(
                Decimal("0.001"), ROUND_HALF_UP) if denominator else None
            seconds = lambda v: f"{Decimal(v) / 1000:.3f}"  # noqa: E731
            rows.append({
                "date": day.isoformat(), "agent": username,
                "online_s": seconds(sum(spent.values())),
                "available_idle_s": seconds(spent["available_idle"]),
                "connecting_s": seconds(spent["connecting"]),
                "on_contact_s": seconds(spent["on_contact"]),
                "after_contact_work_s": seconds(spent["after_contact_work"]),
                "missed_state_s": seconds(spent["missed_state"]),
                "non_productive_s": seconds(spent["non_productive"]),
                "occupancy_pct": "" if occupancy is None else f"{occupancy:.3f}",
                "contacts_connected": str(len(connected[day])),
                "offers_missed": str(offers[day]),
                "phantom_available_s": seconds(phantom[day]),
            })
    return sorted(rows, key=lambda r: (r["date"], r["agent"]))
