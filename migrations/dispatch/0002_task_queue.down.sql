DROP TYPE dispatch.task_change;
DROP TABLE dispatch.outbox;
DROP TABLE dispatch.state_machine;
DROP TABLE dispatch.task_transitions;
DROP TABLE dispatch.agent_task_queue;
DROP TABLE dispatch.agents;
DROP TABLE dispatch.runtimes;
