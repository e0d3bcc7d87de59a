"""``#推送预览`` and ``#推送``: the daily digest on an admin's demand (``handlers.digest``).

``#推送`` shows the plan and waits for ``#确认``: a mass send cannot be taken back. The run itself
may outlast WeChat's 5 seconds; the webhook then answers ``success`` at once and sends the report
through the customer-service API when the run ends.
"""

from __future__ import annotations

from typing import Any

from handlers.admin_base import CONFIRMABLE, AdminError, ask_confirmation, command
from handlers.base import Context, Message
from handlers.digest import DigestBusy, preview, run_digest
from store import audit

PREVIEW_SAMPLE = 300  # characters of the digest text shown in a preview


@command("推送预览", "预览", "preview", usage="#推送预览", summary="看看现在推送会发给谁、发什么")
def push_preview(args: str, msg: Message, ctx: Context) -> str:
    plan = preview(ctx.store, ctx.config, now=ctx.now)
    text = plan.summary()
    if not plan.empty and plan.texts:
        sample = next(iter(plan.texts.values()))
        if len(sample) > PREVIEW_SAMPLE:
            sample = sample[:PREVIEW_SAMPLE] + "……"
        text += f"\n\n内容示例：\n{sample}"
    return text


@command(
    "推送", "push",
    usage="#推送",
    summary="立即推送新闻摘要（需 #确认）",
    detail="先显示将推送的内容与人数，2 分钟内发送 #确认 才会推送。推送报告随后回复。",
)
def push(args: str, msg: Message, ctx: Context) -> str:
    if ctx.api is None:
        raise AdminError("未配置微信接口（[wechat] appsecret、api_base_url），无法推送。")
    plan = preview(ctx.store, ctx.config, now=ctx.now)
    if plan.empty and not plan.unfinished:
        return plan.summary()
    return plan.summary() + "\n\n" + ask_confirmation(ctx, "push", "推送新闻摘要")


def _do_push(pending: dict[str, Any], msg: Message, ctx: Context) -> str:
    if ctx.api is None:
        raise AdminError("未配置微信接口，无法推送。")
    try:
        report = run_digest(ctx.store, ctx.api, ctx.config)
    except DigestBusy:
        raise AdminError("另一次推送正在进行，请稍后发送 #统计 查看结果。") from None
    with ctx.store.transaction():
        audit.record(
            ctx.store, ctx.user, "push", after={
                "digest_id": report.digest_id, "status": report.status, "sent": report.sent,
                "total": report.total, "failed": report.failed, "skipped": report.skipped,
            },
        )
    return "推送完成。\n" + report.summary()


CONFIRMABLE["push"] = _do_push
