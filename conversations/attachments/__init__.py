"""Files sent in a conversation: type detection, storage paths, signed URLs and the views.

The writes live in conversations/services/attachments.py; nothing here imports
the models at import time, so the model can name its upload path from here.
"""
