(function(w){if(typeof w.__gpp=="function")return;var q=[],ev=[],id=0,
ping=function(){return{gppVersion:"1.1",cmpStatus:"stub",cmpDisplayStatus:"hidden",signalStatus:"not ready",supportedAPIs:["7:usnat"],cmpId:1,sectionList:[],applicableSections:[7],gppString:"",parsedSections:{}}},
g=w.__gpp=function(c,f,p,v){if(typeof f!="function")return;
if(c=="ping")f(ping(),true);
else if(c=="addEventListener"){ev.push({id:++id,callback:f,parameter:p});f({eventName:"listenerRegistered",listenerId:id,data:true,pingData:ping()},true)}
else if(c=="removeEventListener"){var k=-1;for(var i=0;i<ev.length;i++)if(ev[i].id===p)k=i;if(k>=0)ev.splice(k,1);f(k>=0,true)}
else q.push([c,f,p,v])};g.queue=q;g.events=ev;g.consentkitStub=true})(window);
