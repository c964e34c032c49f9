"""Replies that an operator approves before the customer sees them (`[desk] approve`).

The finished reply is drafted into the customer's topic with Send / Edit / Discard. Meanwhile
the customer sees "typing" and a holding note (bot.operators.holding). Edit asks the operator
for the corrected text, which is what the customer then gets; the request is stored, so their
next message there is taken by whichever process gets it, before or after a restart. Each
decision is stored (who, when, what was sent); the first one counts. A reply decided to be sent
is delivered like any answer, in its chat's turn and recorded part by part (bot.pipeline), so a
restart in between delivers it once. A draft waits across a restart: the message stays pending,
its reply is not written again, and the buttons still work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.button_data import ROW_ID, ButtonLayout, OneOf, refuse
from bot.config import DeskConfig
from bot.delivery import DeliveryFailed, deliver
from bot.formatting import format_answer, shorten
from bot.operators.access import OPERATOR_HANDLER_GROUP, OperatorGate, then_stop
from bot.operators.desk_channel import DeskChannel
from bot.operators.holding import Holding
from bot.pipeline import strip_mood_emoji
from engine.types import Mood
from engine.vocabulary import MOOD_EMOJI
from storage import Clock, Store, StoredMessage
from storage.approvals import SENDING, ApprovalRecord, Approvals, Decision
from storage.desk import Conversation, DeskStore

log = logging.getLogger(__name__)

# Before the takeover handler, which would otherwise send a corrected text as a new message.
EDIT_HANDLER_GROUP = OPERATOR_HANDLER_GROUP - 1
# Drafts of earlier versions carry "dap" and an action's first letter.
_FORMER_ACTIONS = {"s": "send", "e": "edit", "d": "discard"}
# The action and the approval.
APPROVAL_BUTTON = ButtonLayout(
    "approval", (OneOf(("send", "edit", "discard", *_FORMER_ACTIONS)), ROW_ID), ("dap",)
)


def approval_keyboard(approval_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ Send", callback_data=APPROVAL_BUTTON.write("send", approval_id)
                ),
                InlineKeyboardButton(
                    "✏️ Edit", callback_data=APPROVAL_BUTTON.write("edit", approval_id)
                ),
                InlineKeyboardButton(
                    "🗑 Discard", callback_data=APPROVAL_BUTTON.write("discard", approval_id)
                ),
            ]
        ]
    )


def _thread(message: Message) -> int:
    """The forum topic a message is in; 0 outside topics."""
    return (message.message_thread_id or 0) if message.is_topic_message else 0


def draft_text(answer: str) -> str:
    return f"📝 Draft reply, waiting for approval:\n{shorten(answer, 3900)}"


class ApprovalDesk:
    def __init__(
        self,
        bot: Bot,
        gate: OperatorGate,
        store: Store,
        desk: DeskStore,
        approvals: Approvals,
        channel: DeskChannel,
        chats: Collection[int],
        config: DeskConfig,
        clock: Clock,
    ) -> None:
        self._bot = bot
        self._gate = gate
        self._store = store
        self._desk = desk
        self._approvals = approvals
        self._channel = channel
        self._chats = frozenset(chats)
        self._config = config
        self._clock = clock
        self._holding = Holding(bot, approvals, desk, config)
        # Answers a pending message in its chat's turn (set by the service).
        self.answer_now: Callable[[StoredMessage], Awaitable[None]] | None = None
        # Decided replies on their way to the customer.
        self._deliveries: set[asyncio.Task[None]] = set()

    def register(self, app: Application) -> None:  # type: ignore[type-arg]
        app.add_handler(
            CallbackQueryHandler(then_stop(self.on_button), pattern=APPROVAL_BUTTON.pattern),
            group=OPERATOR_HANDLER_GROUP,
        )
        if self._chats:
            in_desk = filters.Chat(chat_id=self._chats) & filters.UpdateType.MESSAGE
            app.add_handler(
                MessageHandler(in_desk & filters.TEXT & ~filters.COMMAND, self.on_text),
                group=EDIT_HANDLER_GROUP,
            )

    # --- for the pipeline --------------------------------------------------------------------

    def wants(self, mood: Mood) -> bool:
        policy = self._config.approve
        return policy == "always" or (policy == "negative" and mood.label == "negative")

    async def has_draft(self, message: StoredMessage) -> bool:
        """Whether a draft for the message waits for (or got) a decision."""
        return await self._approvals.for_message(message.id) is not None

    async def decided_reply(self, message: StoredMessage) -> str | None:
        """The reply an operator decided the customer gets (sent or edited), if any."""
        approval = await self._approvals.for_message(message.id)
        if approval is None or approval.decision not in SENDING:
            return None
        return approval.sent_text

    async def draft(self, message: StoredMessage, answer: str) -> None:
        approval = await self._approvals.draft(message.id, answer, self._clock())
        conversation = Conversation(message.chat_id, message.customer_id)
        self._channel.submit(
            message.customer_id,
            lambda: self._channel.post(
                conversation, draft_text(approval.draft), approval_keyboard(approval.id)
            ),
            "post a draft for approval",
        )
        self._holding.start(message)
        log.info("message %s: reply drafted for approval (%s)", message.id, approval.id)

    async def close(self) -> None:
        await self._holding.close()
        for task in self._deliveries:
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    # --- the operators decide ----------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or not await self._gate.button(query):
            return
        fields = APPROVAL_BUTTON.read(query.data)
        if fields is None:
            await refuse(query)
            return
        written_action, approval_id = fields
        action = _FORMER_ACTIONS.get(written_action, written_action)
        approval = await self._approvals.get(approval_id)
        if approval is None:
            await query.answer("This draft is no longer stored.")
            return
        if approval.decision is not None:
            await query.answer(f"Already decided: {approval.decision}.")
            return
        post = query.message if isinstance(query.message, Message) else None
        operator = query.from_user
        if action == "edit":
            if post is None:
                await query.answer()
                return
            await self._approvals.request_edit(
                post.chat_id, _thread(post), operator.id, approval.id
            )
            await query.answer("Send the corrected reply as your next message here.")
            await deliver(
                lambda: post.reply_text(
                    f"✏️ {operator.full_name}, send the corrected reply as your next message."
                ),
                f"chat {post.chat_id}: edit prompt",
            )
            return
        if action == "send":
            done = await self._decide(approval, "sent", operator.id, approval.draft, post)
        else:
            done = await self._decide(approval, "discarded", operator.id, None, post)
        await query.answer("Done." if done else "Already decided.")

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or message.text is None:
            return
        if not self._gate.admits(user):
            return
        approval = await self._approvals.take_edit_request(
            message.chat_id, _thread(message), user.id
        )
        if approval is None:
            return
        if approval.decision is None:
            stored = await self._store.get_message(approval.message_id)
            emoji = MOOD_EMOJI[stored.mood_label] if stored and stored.mood_label else ""
            corrected = (
                format_answer(emoji, strip_mood_emoji(message.text)) if emoji else message.text
            )
            await self._decide(approval, "edited", user.id, corrected, message)
        raise ApplicationHandlerStop

    async def _decide(
        self,
        approval: ApprovalRecord,
        decision: Decision,
        operator_id: int,
        sent_text: str | None,
        where: Message | None,
    ) -> bool:
        if not await self._approvals.decide(
            approval.id, decision, operator_id, sent_text, self._clock()
        ):
            return False
        message = await self._store.get_message(approval.message_id)
        if message is None:
            return True
        self._holding.stop(message.id)
        if sent_text is None:
            # The team answers it themselves, or not at all; either way it is theirs now.
            await self._desk.leave_to_the_team(message.id)
            await self._note(where, "🗑 Discarded; the customer got nothing.")
            return True
        task = asyncio.create_task(self._deliver(message, decision, sent_text, where))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return True

    async def _deliver(
        self, message: StoredMessage, decision: Decision, sent_text: str, where: Message | None
    ) -> None:
        """The decided reply goes out as the message's answer, in its chat's turn."""
        assert self.answer_now is not None
        try:
            await self.answer_now(message)
            delivered = await self._store.get_message(message.id)
        except Exception:
            # Nobody awaits this task: an error that is not logged here is never seen.
            log.exception("message %s: the approved reply could not be delivered", message.id)
            delivered = None
        if delivered is not None and delivered.status == "answered":
            await self._note(where, f"✅ {decision.capitalize()}: {shorten(sent_text, 300)}")
        else:
            await self._note(
                where,
                "⚠️ Not delivered yet: the bot tries again, and /queue shows the customer until "
                "it is.",
            )

    async def _note(self, where: Message | None, note: str) -> None:
        if where is None:
            return
        try:
            await deliver(lambda: where.reply_text(note), f"chat {where.chat_id}: approval note")
        except (DeliveryFailed, TelegramError) as exc:
            log.warning("chat %s: could not post an approval note: %s", where.chat_id, exc)
