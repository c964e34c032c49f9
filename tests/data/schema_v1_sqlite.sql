-- The schema moodbot 0.1 created before Alembic (schema_info version 1), as SQLAlchemy's
-- create_all emitted it on sqlite. Frozen: the migration tests build today's databases from it.

CREATE TABLE schema_info (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	CONSTRAINT pk_schema_info PRIMARY KEY (id)
);

CREATE TABLE customers (
	id BIGINT NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	username VARCHAR(64), 
	language VARCHAR(16), 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	CONSTRAINT pk_customers PRIMARY KEY (id)
);

CREATE TABLE messages (
	id INTEGER NOT NULL, 
	chat_id BIGINT NOT NULL, 
	customer_id BIGINT NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	text TEXT NOT NULL, 
	telegram_message_id BIGINT, 
	reply_to_id INTEGER, 
	created_at DATETIME NOT NULL, 
	mood_label VARCHAR(16), 
	mood_confidence DOUBLE, 
	status VARCHAR(16) NOT NULL, 
	failure_reason TEXT, 
	CONSTRAINT pk_messages PRIMARY KEY (id), 
	CONSTRAINT uq_messages_chat_id_telegram_message_id UNIQUE (chat_id, telegram_message_id), 
	CONSTRAINT uq_messages_reply_to_id UNIQUE (reply_to_id), 
	CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant')), 
	CONSTRAINT ck_messages_status CHECK (status IN ('pending', 'answered', 'failed')), 
	CONSTRAINT ck_messages_mood_label CHECK (mood_label IN ('positive', 'negative', 'neutral')), 
	CONSTRAINT fk_messages_customer_id_customers FOREIGN KEY(customer_id) REFERENCES customers (id) ON DELETE CASCADE, 
	CONSTRAINT fk_messages_reply_to_id_messages FOREIGN KEY(reply_to_id) REFERENCES messages (id) ON DELETE CASCADE
);

CREATE INDEX ix_messages_customer_id_created_at ON messages (customer_id, created_at);

CREATE INDEX ix_messages_mood_label_created_at ON messages (mood_label, created_at);

CREATE INDEX ix_messages_status ON messages (status);

CREATE TABLE conversation_resets (
	id INTEGER NOT NULL, 
	chat_id BIGINT NOT NULL, 
	customer_id BIGINT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_conversation_resets PRIMARY KEY (id), 
	CONSTRAINT fk_conversation_resets_customer_id_customers FOREIGN KEY(customer_id) REFERENCES customers (id) ON DELETE CASCADE
);

CREATE INDEX ix_conversation_resets_customer_id_chat_id ON conversation_resets (customer_id, chat_id, created_at);

CREATE TABLE mood_corrections (
	id INTEGER NOT NULL, 
	message_id INTEGER NOT NULL, 
	label VARCHAR(16) NOT NULL, 
	operator_id BIGINT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_mood_corrections PRIMARY KEY (id), 
	CONSTRAINT ck_mood_corrections_label CHECK (label IN ('positive', 'negative', 'neutral')), 
	CONSTRAINT fk_mood_corrections_message_id_messages FOREIGN KEY(message_id) REFERENCES messages (id) ON DELETE CASCADE
);

CREATE INDEX ix_mood_corrections_message_id ON mood_corrections (message_id);
