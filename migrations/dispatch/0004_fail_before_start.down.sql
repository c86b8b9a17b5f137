DELETE FROM dispatch.state_machine WHERE from_status = 'dispatched' AND event = 'failed';
