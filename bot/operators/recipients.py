"""Whom an operator's message in the operators' chats is for, and where it goes: a message in
a customer's topic, or a reply to a post about them, is for that customer, and it goes to their
private chat with the bot. A customer who has only written to the bot in a group is written to
in that group, for all its members to see, which an operator must confirm first."""

from __future__ import annotations

from telegram import Message

from bot.operators.desk_channel import DeskChannel
from storage.desk import Conversation, DeskStore


def in_group(conversation: Conversation) -> bool:
    # A private chat's id is its user's id.
    return conversation.chat_id != conversation.customer_id


class Recipients:
    def __init__(self, desk: DeskStore, channel: DeskChannel) -> None:
        self._desk = desk
        self._channel = channel

    async def customer_of(self, message: Message) -> tuple[int, Conversation | None] | None:
        """The customer the message is about, with the conversation of the post it replies to
        (None in a topic); None when it is about nobody."""
        # Read at each message: the channel drops the forum when it may not open topics there.
        forum = self._channel.forum_chat
        if forum == message.chat_id and message.is_topic_message and message.message_thread_id:
            customer_id = await self._desk.customer_of_topic(forum, message.message_thread_id)
            if customer_id is not None:
                return customer_id, None
        replied = message.reply_to_message
        if replied is None:
            return None
        about = await self._desk.conversation_of_post(message.chat_id, replied.message_id)
        return None if about is None else (about.customer_id, about)

    async def conversation_for(self, message: Message) -> Conversation | None:
        """Where a message about a customer goes: their private chat when they have one with
        the bot, else the group of the post replied to, or of their latest message."""
        found = await self.customer_of(message)
        if found is None:
            return None
        customer_id, about = found
        if await self._desk.has_private_chat(customer_id):
            return Conversation(customer_id, customer_id)
        return about or await self._desk.latest_conversation(customer_id)
