// Bot replies being streamed right now, by conversation. Every console gets
// each reply's `reply.start` and `reply.end` for every conversation of its
// sites, but its deltas only for the conversation it watches (the open one):
// this is what lets the list mark a conversation "being answered", and the
// transcript show the typing bubble of a reply already under way when its
// conversation is opened. A reply that started before the socket connected is
// learnt from its conversation's row (`replying_id`).

const MAX_ENDED = 500;

export class RepliesInFlight {
  /** @param {(conversationId: number) => void} onChange a conversation started or stopped being answered */
  constructor(onChange) {
    this.onChange = onChange;
    this.byConversation = new Map(); // conversation id -> Set of reply ids, oldest first
    // Replies seen to end, newest last: a row read before the end may arrive after it.
    this.ended = new Set();
  }

  /** A row's `replying_id`: a reply that may have started before this socket was there. */
  seed(conversationId, replyId) {
    if (!replyId || this.ended.has(replyId)) return;
    this.start(conversationId, replyId);
  }

  /** Is the bot answering this conversation? */
  has(conversationId) {
    return this.byConversation.has(conversationId);
  }

  /** The newest reply in flight in this conversation, or null. */
  latest(conversationId) {
    const replies = this.byConversation.get(conversationId);
    if (!replies) return null;
    let last = null;
    for (const replyId of replies) last = replyId;
    return last;
  }

  start(conversationId, replyId) {
    let replies = this.byConversation.get(conversationId);
    if (!replies) {
      replies = new Set();
      this.byConversation.set(conversationId, replies);
    }
    if (replies.has(replyId)) return;
    replies.add(replyId);
    if (replies.size === 1) this.onChange(conversationId);
  }

  end(conversationId, replyId) {
    this.markEnded(replyId);
    const replies = this.byConversation.get(conversationId);
    if (!replies || !replies.delete(replyId)) return;
    if (replies.size) return;
    this.byConversation.delete(conversationId);
    this.onChange(conversationId);
  }

  /** The conversation left the bot (taken over, queued, closed): nothing streams any more. */
  clear(conversationId) {
    const replies = this.byConversation.get(conversationId);
    if (!replies) return;
    for (const replyId of replies) this.markEnded(replyId);
    this.byConversation.delete(conversationId);
    this.onChange(conversationId);
  }

  /** Remember that this reply ended (bounded: the oldest are dropped). */
  markEnded(replyId) {
    this.ended.add(replyId);
    if (this.ended.size > MAX_ENDED) this.ended.delete(this.ended.values().next().value);
  }

  /** The socket dropped: a start or an end may be missed; a new socket learns again. */
  reset() {
    const ids = Array.from(this.byConversation.keys());
    this.byConversation.clear();
    for (const id of ids) this.onChange(id);
  }
}
